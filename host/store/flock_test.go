//go:build unix

package store

import (
	"os"
	"syscall"
)

// flockTry takes and releases an exclusive lock without waiting.
func flockTry(f *os.File) error {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return err
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
