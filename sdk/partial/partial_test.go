package partial_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/castray/castray/sdk/partial"
)

func TestNames(t *testing.T) {
	id := "tr-20261201-203000-0123456789abcdef"
	if got := partial.PartName(id); got != ".castray-"+id+".part" {
		t.Errorf("PartName = %q", got)
	}
	if got := partial.JournalName(id); got != ".castray-"+id+".journal" {
		t.Errorf("JournalName = %q", got)
	}
	for _, name := range []string{partial.PartName(id), partial.JournalName(id)} {
		if got, ok := partial.Parse(name); !ok || got != id {
			t.Errorf("Parse(%q) = %q, %v", name, got, ok)
		}
	}
}

func TestParse(t *testing.T) {
	for name, want := range map[string]struct {
		id string
		ok bool
	}{
		"payload.bin":               {"", false},
		".castray":                  {"", false},
		"castray-x.part":            {"", false},
		".castray-123456.part":      {"", true}, // legacy os.CreateTemp name
		".castray-t1.part":          {"t1", true},
		".castray-t1.journal":       {"t1", true},
		".castray-.part":            {"", true},
		".castray-t1.tmp":           {"", true},
		".castray-":                 {"", true},
		".castray-a..b.part":        {"", true},
		".castray-a.part.journal":   {"a.part", true},
		".castray-x\\y.part":        {"", true},
		".castray-tr-1-2-3.journal": {"tr-1-2-3", true},
	} {
		id, ok := partial.Parse(name)
		if id != want.id || ok != want.ok {
			t.Errorf("Parse(%q) = %q, %v; want %q, %v", name, id, ok, want.id, want.ok)
		}
	}
}

func TestCheckID(t *testing.T) {
	for _, id := range []string{"", "a/b", `a\b`, "..", "a..b", "12345", "a\x00"} {
		if partial.CheckID(id) == nil {
			t.Errorf("CheckID(%q) accepted", id)
		}
	}
	for _, id := range []string{"t1", "tr-20261201-203000-0123456789abcdef", "a.b"} {
		if err := partial.CheckID(id); err != nil {
			t.Errorf("CheckID(%q): %v", id, err)
		}
	}
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range des {
		out = append(out, d.Name())
	}
	return out
}

func TestSweep(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "victim")
	touch(t, outside)
	for _, n := range []string{
		"payload.bin", ".hidden",
		partial.PartName("keep"), partial.JournalName("keep"),
		partial.PartName("gone"), partial.JournalName("gone"),
		".castray-98765.part", ".castray-odd",
	} {
		touch(t, filepath.Join(dir, n))
	}
	// A prefixed subfolder and a prefixed symlink are not partial state.
	if err := os.Mkdir(filepath.Join(dir, partial.PartName("dir")), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, partial.PartName("link"))); err != nil {
		t.Fatal(err)
	}
	removed, err := partial.Sweep(dir, func(id string) bool { return id == "keep" })
	if err != nil {
		t.Fatal(err)
	}
	for i := range removed {
		removed[i] = filepath.Base(removed[i])
	}
	slices.Sort(removed)
	want := []string{".castray-98765.part", partial.JournalName("gone"), partial.PartName("gone"), ".castray-odd"}
	slices.Sort(want)
	if !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	left := names(t, dir)
	wantLeft := []string{".castray-dir.part", ".castray-keep.journal", ".castray-keep.part", ".castray-link.part", ".hidden", "payload.bin"}
	if !slices.Equal(left, wantLeft) {
		t.Errorf("left %v, want %v", left, wantLeft)
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("symlink target touched: %v", err)
	}

	if removed, err := partial.Sweep(filepath.Join(dir, "missing"), nil); err != nil || removed != nil {
		t.Errorf("missing dir: %v, %v", removed, err)
	}
	// nil keep removes every partial file.
	if _, err := partial.Sweep(dir, nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range names(t, dir) {
		if strings.Contains(n, "keep") {
			t.Errorf("nil keep left %s", n)
		}
	}
}

func TestRemove(t *testing.T) {
	dir := t.TempDir()
	touch(t, filepath.Join(dir, partial.PartName("t1")))
	touch(t, filepath.Join(dir, partial.JournalName("t1")))
	touch(t, filepath.Join(dir, partial.PartName("t2")))
	if err := partial.Remove(dir, "t1"); err != nil {
		t.Fatal(err)
	}
	if err := partial.Remove(dir, "t1"); err != nil {
		t.Errorf("second Remove: %v", err)
	}
	if got := names(t, dir); !slices.Equal(got, []string{partial.PartName("t2")}) {
		t.Errorf("left %v", got)
	}
	if err := partial.Remove(dir, "../t2"); err == nil {
		t.Error("Remove accepted an id with a separator")
	}
	if err := partial.Remove(filepath.Join(dir, "missing"), "t2"); err != nil {
		t.Errorf("missing dir: %v", err)
	}
}
