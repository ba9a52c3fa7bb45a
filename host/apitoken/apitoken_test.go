package apitoken

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSaveLoadAndRefusals(t *testing.T) {
	dir := t.TempDir()
	p := Path(dir)
	if tok, err := Load(p); tok != "" || err != nil {
		t.Fatalf("no file: %q %v", tok, err)
	}
	tok, err := Generate()
	if err != nil || len(tok) != 48 {
		t.Fatalf("generate: %q %v", tok, err)
	}
	if err := Save(p, tok); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi.Mode(), err)
	}
	if got, err := Load(p); got != tok || err != nil {
		t.Fatalf("load: %q %v", got, err)
	}
	again, _ := Generate()
	if again == tok {
		t.Fatal("two generated tokens are equal")
	}
	if err := Save(p, again); err != nil {
		t.Fatal(err)
	}
	if got, _ := Load(p); got != again {
		t.Fatalf("after a second save: %q", got)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}

	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "mode 0644") || strings.Contains(err.Error(), again) {
		t.Errorf("world-readable file: %v", err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("hunter2 is my password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("foreign content: %v", err)
	}
}
