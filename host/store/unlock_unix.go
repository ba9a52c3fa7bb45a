//go:build unix

package store

import (
	"os"
	"syscall"
)

// unlockFile releases bbolt's flock on f. Closing f alone is not enough
// after bbolt panicked in Open: its memory mapping still references the open
// file description, and the lock lives as long as that description does.
func unlockFile(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
