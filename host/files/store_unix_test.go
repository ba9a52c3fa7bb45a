//go:build unix

package files

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A symbolic link planted in uploads/ is never followed: not listed,
// described, opened or overwritten through; deleting it removes the link.
func TestSymlinksAreNeverFollowed(t *testing.T) {
	f := newFixture(t, 1000)
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("outside the store"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"link": secret, "dirlink": outside, "dangling": filepath.Join(outside, "none"), "save-over": secret} {
		if err := os.Symlink(target, filepath.Join(f.dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(f.dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}

	list, err := f.s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Fatalf("listed %+v", list)
	}
	for _, name := range []string{"link", "dirlink", "dangling"} {
		if _, err := f.s.Stat(name); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("Stat(%s) = %v", name, err)
		}
		if fh, _, err := f.s.Open(name); !errors.Is(err, ErrNotFound) {
			fh.Close()
			t.Errorf("Open(%s) = %v", name, err)
		}
	}
	if _, _, err := f.s.Open("fifo"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Open(fifo) = %v", err)
	}
	// The link was never opened through.
	if fh, err := openNoFollow(filepath.Join(f.dir, "link")); !errors.Is(err, syscall.ELOOP) {
		fh.Close()
		t.Errorf("openNoFollow followed a link: %v", err)
	}

	// Saving over a link replaces the link, not its target.
	if _, err := f.s.Save("save-over", strings.NewReader("new"), SaveOptions{Length: 3}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(f.dir, "save-over")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("save-over: %v %v", fi, err)
	}
	// Deleting a link removes the link only.
	if err := f.s.Delete("link"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(f.dir, "link")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the link is still there")
	}
	if got, err := os.ReadFile(secret); err != nil || string(got) != "outside the store" {
		t.Fatalf("the link's target changed: %q %v", got, err)
	}
}
