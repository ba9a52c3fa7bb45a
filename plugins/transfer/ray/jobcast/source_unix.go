//go:build unix

package jobcast

import (
	"os"
	"syscall"
)

// identify stats path; nil when it cannot, or when it is not a regular
// file of the stored size (the file server stays the only source).
func identify(path string, size uint64) *sourceFile {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() || uint64(fi.Size()) != size {
		return nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	return &sourceFile{Path: path, Dev: uint64(st.Dev), Ino: uint64(st.Ino), Size: size, MtimeNs: fi.ModTime().UnixNano()}
}
