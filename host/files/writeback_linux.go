package files

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing a just-written range of
// f to disk without waiting for it (sync_file_range, SYNC_FILE_RANGE_WRITE):
// the disk then works while the rest of the upload arrives, and the fsync
// before the rename finds little left to do. Without it, 1 GiB sits dirty in
// the page cache (below the kernel's background threshold) until that
// fsync, which then costs the whole disk time after the last byte arrived.
func startWriteback(f *os.File, off int64, n int) {
	_ = unix.SyncFileRange(int(f.Fd()), off, int64(n), unix.SYNC_FILE_RANGE_WRITE)
}
