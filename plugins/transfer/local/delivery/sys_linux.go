package delivery

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing a range of f to disk now
// without waiting for it (sync_file_range with SYNC_FILE_RANGE_WRITE), so
// that the fsync before the rename finds little left to do and the disk
// works while the next chunks are copied.
func startWriteback(f *os.File, off int64, n int) error {
	return unix.SyncFileRange(int(f.Fd()), off, int64(n), unix.SYNC_FILE_RANGE_WRITE)
}

// openFileLimit is the soft limit on open files.
func openFileLimit() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 1024
	}
	return int(rl.Cur)
}

const oNoFollow = unix.O_NOFOLLOW
