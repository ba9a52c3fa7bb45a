package files

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reason string // "" = accepted; else a part of the reason
	}{
		{"report.pdf", ""},
		{"a", ""},
		{"with space inside.txt", ""},
		{"ünïcödé 文件.bin", ""},
		{"x..y", ""},
		{"..x", `starts with "."`},
		{strings.Repeat("a", 255), ""},
		{strings.Repeat("é", 127) + "a", ""}, // 255 bytes
		{"", "required"},
		{strings.Repeat("a", 256), "256 bytes long, at most 255"},
		{strings.Repeat("é", 128), "256 bytes long"},
		{"\xff\xfe", "not valid UTF-8"},
		{"a\xc0b", "not valid UTF-8"},
		{"nl\nname", "control character U+000A"},
		{"nul\x00name", "control character U+0000"},
		{"a\x00/b", "control character U+0000"}, // NUL is a control character, not a separator
		{"tab\tname", "control character U+0009"},
		{"cr\rname", "control character U+000D"},
		{"esc\x1bname", "control character U+001B"},
		{"del\x7fname", "control character U+007F"},
		{"c1\u0085name", "control character U+0085"},
		{"c1\u009fname", "control character U+009F"},
		{"evil\u202Etxt.exe", "formatting character U+202E"},
		{"\u202Aa", "U+202A"},
		{"a\u2066b", "U+2066"},
		{"a\u2069b", "U+2069"},
		{"zw\u200Bsp", "U+200B"},
		{"lrm\u200Ename", "U+200E"},
		{"rlm\u200Fname", "U+200F"},
		{"wj\u2060name", "U+2060"},
		{"\u2064x", "U+2064"},
		{"alm\u061Cname", "U+061C"},
		{"\uFEFFbom", "U+FEFF"},
		{"a/b", `path separator '/'`},
		{"../x", `path separator '/'`},
		{"/abs", `path separator '/'`},
		{`a\b`, `path separator '\\'`},
		{`..\x`, `path separator '\\'`},
		{".", "relative path element"},
		{"..", "relative path element"},
		{".hidden", `starts with "."`},
		{".upload-1.part", `starts with "."`},
		{".castray-x", `starts with "."`},
		{" lead", "starts or ends with a space"},
		{"trail ", "starts or ends with a space"},
		{" ", "starts or ends with a space"},
		{"nbsp\u00a0ok", ""}, // not a space, not a control
	} {
		err := CheckName(tc.name)
		if tc.reason == "" {
			if err != nil {
				t.Errorf("CheckName(%q) = %v, want nil", tc.name, err)
			}
			continue
		}
		var ne *NameError
		if !errors.As(err, &ne) {
			t.Errorf("CheckName(%q) = %v, want a *NameError", tc.name, err)
			continue
		}
		if ne.Name != tc.name || !strings.Contains(ne.Reason, tc.reason) {
			t.Errorf("CheckName(%q): name %q, reason %q; want the reason to contain %q", tc.name, ne.Name, ne.Reason, tc.reason)
		}
		if !strings.Contains(err.Error(), ne.Reason) {
			t.Errorf("CheckName(%q): message %q does not say why", tc.name, err)
		}
	}
}

// FuzzCheckName: whatever CheckName accepts is one visible path element.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"a", "report.pdf", "../x", "a/b", `a\b`, ".", "..", ".x", "nl\n", "\x00", "\u202E", " x", "x ", "\xff", "é", "a..b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if CheckName(name) != nil {
			return
		}
		if filepath.Base(name) != name || filepath.Clean(name) != name {
			t.Fatalf("accepted %q, which is not a single path element (Base %q)", name, filepath.Base(name))
		}
		if strings.ContainsAny(name, `/\`) || name == "." || name == ".." || strings.HasPrefix(name, ".") {
			t.Fatalf("accepted %q", name)
		}
		if !utf8.ValidString(name) || len(name) == 0 || len(name) > MaxNameLen {
			t.Fatalf("accepted %q", name)
		}
		for _, r := range name {
			if isControl(r) || isFormat(r) {
				t.Fatalf("accepted %q with U+%04X", name, r)
			}
		}
	})
}
