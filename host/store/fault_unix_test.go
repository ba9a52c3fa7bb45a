//go:build unix

package store

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// guard must turn a memory fault (what reading a page of a truncated,
// mapped file gives) into ErrCorrupt instead of crashing.
func TestGuardRecoversMemoryFault(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	pg := os.Getpagesize()
	if err := os.WriteFile(path, make([]byte, pg), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := syscall.Mmap(int(f.Fd()), 0, 4*pg, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(m)

	s := &Store{path: "/x/castray.db"}
	var b byte
	err = s.guard(func() error {
		b = m[2*pg+1] // beyond end of file: SIGBUS on Linux
		return nil
	})
	if err == nil {
		t.Skipf("reading past the end of a mapped file did not fault here (read %d)", b)
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
	t.Log(err)
}
