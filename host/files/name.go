package files

import (
	"fmt"
	"unicode/utf8"
)

// MaxNameLen is the longest file name, in bytes (the common file system
// limit of one path element).
const MaxNameLen = 255

// NameError is a file name CheckName refuses, and why.
type NameError struct {
	Name   string
	Reason string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("invalid file name %q: %s", e.Name, e.Reason)
}

// CheckName is the one rule for the name of an uploaded file: a single,
// visible path element that reads the same everywhere it is shown. It
// refuses, with a *NameError that says why:
//   - the empty name and names longer than MaxNameLen bytes;
//   - names that are not valid UTF-8;
//   - control characters (C0, including NUL, TAB and newlines; DEL; C1);
//   - bidirectional controls and invisible format characters (U+061C,
//     U+200B–U+200F, U+202A–U+202E, U+2060–U+2064, U+2066–U+2069, U+FEFF),
//     which make a name display as another one;
//   - path separators ("/" and "\"), "." and "..";
//   - a leading "." (hidden files; ".upload-" and ".castray-" are the
//     store's own);
//   - a leading or trailing space.
//
// Names are checked, never repaired: "../x" is refused, not turned into "x".
func CheckName(name string) error {
	bad := func(format string, a ...any) error {
		return &NameError{Name: name, Reason: fmt.Sprintf(format, a...)}
	}
	switch {
	case name == "":
		return bad("a file name is required")
	case len(name) > MaxNameLen:
		return bad("%d bytes long, at most %d allowed", len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return bad("not valid UTF-8")
	}
	for _, r := range name {
		switch {
		case isControl(r):
			return bad("contains the control character U+%04X", r)
		case isFormat(r):
			return bad("contains the invisible or bidirectional formatting character U+%04X", r)
		case r == '/' || r == '\\':
			return bad("contains the path separator %q", r)
		}
	}
	switch {
	case name == "." || name == "..":
		return bad("%q is a relative path element, not a file name", name)
	case name[0] == '.':
		return bad(`starts with "." (hidden files are not served; ".upload-" and ".castray-" are reserved)`)
	case name[0] == ' ' || name[len(name)-1] == ' ':
		return bad("starts or ends with a space")
	}
	return nil
}

// isControl: C0 (U+0000–U+001F), DEL and C1 (U+0080–U+009F).
func isControl(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r <= 0x9f)
}

// isFormat: bidirectional controls and invisible format characters.
func isFormat(r rune) bool {
	switch {
	case r == 0x061C, r == 0xFEFF:
		return true
	case r >= 0x200B && r <= 0x200F,
		r >= 0x202A && r <= 0x202E,
		r >= 0x2060 && r <= 0x2064,
		r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}
