package fakeray

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The dashboard is aiohttp + Python's json.dumps with default arguments.
// These helpers append JSON exactly as json.dumps would write it.

const hexDigits = "0123456789abcdef"

// appendPyStr writes s as json.dumps does (ensure_ascii=True): ", \, and the
// short escapes \n \r \t \b \f; other control characters and every non-ASCII
// rune as \uXXXX (UTF-16 surrogate pairs above U+FFFF). Unlike Go's
// encoding/json it leaves <, > and & alone.
func appendPyStr(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"':
				b = append(b, '\\', '"')
			case c == '\\':
				b = append(b, '\\', '\\')
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c < 0x20 || c == 0x7f: // ESCAPE_ASCII: [^\ -~]
				b = appendU(b, rune(c))
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r > 0xffff {
			r -= 0x10000
			b = appendU(b, 0xd800+(r>>10))
			b = appendU(b, 0xdc00+(r&0x3ff))
		} else {
			b = appendU(b, r)
		}
		i += size
	}
	return append(b, '"')
}

func appendU(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hexDigits[r>>12&15], hexDigits[r>>8&15], hexDigits[r>>4&15], hexDigits[r&15])
}

// appendPyFloat writes f as Python's float.__repr__: shortest round-trip
// digits, "1.0" for integral values, exponent form below 1e-4 and from 1e16
// ("1e+16", "1e-05"), and NaN/Infinity as json.dumps writes them.
func appendPyFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	}
	a := math.Abs(f)
	if a != 0 && (a < 1e-4 || a >= 1e16) {
		s := strconv.FormatFloat(f, 'e', -1, 64) // 1e+16, 1.5e-05: Python's form
		return append(b, s...)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	b = append(b, s...)
	if !strings.ContainsAny(s, ".") {
		b = append(b, '.', '0')
	}
	return b
}

func appendPyBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// appendPyStrOrNull writes null for nil, else the string.
func appendPyStrOrNull(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendPyStr(b, *s)
}

// kv is one entry of an ordered map[string]float64 (protobuf map order is
// whatever the GCS produced; the fake keeps a fixed order).
type kv struct {
	K string
	V float64
}

func appendPyFloatMap(b []byte, m []kv, key func(string) string) []byte {
	b = append(b, '{')
	for i, e := range m {
		if i > 0 {
			b = append(b, ", "...)
		}
		k := e.K
		if key != nil {
			k = key(k)
		}
		b = appendPyStr(b, k)
		b = append(b, ": "...)
		b = appendPyFloat(b, e.V)
	}
	return append(b, '}')
}

// pyCamel is the dashboard's to_google_style key conversion
// (python/ray/dashboard/utils.py to_camel_case): split on "_", keep the
// first part, str.title() the rest. So "object_store_memory" becomes
// "objectStoreMemory" and "node:__internal_head__" "node:InternalHead",
// as in the captured /nodes?view=summary.
func pyCamel(s string) string {
	if !strings.Contains(s, "_") {
		return s
	}
	parts := strings.Split(s, "_")
	var sb strings.Builder
	sb.WriteString(parts[0])
	for _, p := range parts[1:] {
		sb.WriteString(pyTitle(p))
	}
	return sb.String()
}

// pyTitle is str.title() for ASCII: a letter after a non-letter is upper
// case, every other letter lower case ("a1b" → "A1B").
func pyTitle(s string) string {
	out := []byte(s)
	prevLetter := false
	for i, c := range out {
		isLower, isUpper := c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z'
		if isLower || isUpper {
			if !prevLetter && isLower {
				out[i] = c - 32
			} else if prevLetter && isUpper {
				out[i] = c + 32
			}
			prevLetter = true
		} else {
			prevLetter = false
		}
	}
	return string(out)
}
