package ray

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// A one-pass JSON reader for the State API listings. A listing of 10,000
// nodes or actors is megabytes; encoding/json validated it whole, then
// scanned it again per level (envelope, row, resources map, each number),
// which made decoding most of a sync's cost. This reader validates and
// decodes in one pass, decodes only the fields CastRay keeps and never
// builds a value it drops.
//
// It follows encoding/json's rules, so the decoders answer exactly as
// before (parse_equiv_test.go compares them with the encoding/json
// versions, also under fuzzing): the same grammar (RFC 8259, depth at most
// 10000, nothing but white space after the value), strings unquoted the
// same way (invalid UTF-8 and lone surrogates become U+FFFD), object keys
// matched exactly or else case-insensitively (bytes.EqualFold), the last
// of repeated keys wins, a JSON null leaves a string, number or bool field
// as it was and sets a pointer, slice or map to nil, and any other value of
// the wrong type is an error.
//
// Why by hand: JSON libraries decoding the same listings in one call into
// struct-tagged types (parse_bench_test.go's typed decoders, the same
// Nodes and Actors) were measured against this reader on 2026-12-02 with
// BenchmarkListings: a 10,000-node listing (4.5 MB) and a 50,000-actor
// one (23.7 MB) shaped like Ray 2.60's; medians of 5 interleaved runs on
// the 2-core shared VM, CPU time per decode (GC included), then B/op:
//
//	                              10k nodes          50k actors
//	this reader                   38 ms   9.5 MB     191 ms   51 MB
//	encoding/json as before      331 ms    43 MB    1123 ms  121 MB
//	encoding/json, typed         135 ms    16 MB     624 ms   63 MB
//	goccy/go-json v0.10.5         49 ms    17 MB     180 ms   65 MB
//	segmentio/encoding v0.5.4     95 ms    59 MB     247 ms   50 MB
//	bytedance/sonic v1.15.5       38 ms    19 MB     210 ms   79 MB  (ConfigStd)
//
// goccy/go-json accepts invalid JSON (a bare "-" as a number, a raw tab
// in a string) and reads 18446744073709551616 into a uint64 as 0 instead
// of failing; segmentio/encoding costs 2.5 times this reader's CPU on the
// node listing. Sonic matches the CPU and agreed with encoding/json on
// the live captures, the scale listings, parse_equiv_test.go's corner
// cases (but for case-insensitive keys) and 45,000 fuzzed inputs, but it adds seven
// modules, a JIT assembler and a loader among them, to sdk/, which
// third-party plugins import, and where it has no JIT (v1.15.5: Go 1.28
// and later, architectures other than amd64 and arm64) it falls back to
// encoding/json, the "typed" row. So the listings are read here.

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

var errSyntax = errors.New("invalid JSON")

// errType is a value of the wrong type for its field (encoding/json's
// UnmarshalTypeError); the syntax is still checked to the end.
var errType = errors.New("JSON value of the wrong type")

type jscan struct {
	b     []byte
	i     int
	depth int
	err   error // the first syntax error; every method returns at once after it
}

func (s *jscan) fail() {
	if s.err == nil {
		s.err = fmt.Errorf("%w at offset %d", errSyntax, s.i)
	}
}

// ws skips white space and returns the next byte (0 at the end).
func (s *jscan) ws() byte {
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return c
		}
	}
	return 0
}

func (s *jscan) enter() bool {
	s.depth++
	if s.depth > maxDepth {
		s.fail()
		return false
	}
	return true
}

// skip validates one value and returns its bytes.
func (s *jscan) skip() []byte {
	if s.err != nil {
		return nil
	}
	c := s.ws()
	start := s.i
	switch {
	case c == '{':
		s.object(func([]byte) { s.skip() })
	case c == '[':
		s.array(func() { s.skip() })
	case c == '"':
		s.str()
	case c == '-' || c >= '0' && c <= '9':
		s.number()
	case c == 't':
		s.lit("true")
	case c == 'f':
		s.lit("false")
	case c == 'n':
		s.lit("null")
	default:
		s.fail()
	}
	if s.err != nil {
		return nil
	}
	return s.b[start:s.i]
}

func (s *jscan) lit(word string) {
	if !bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		s.fail()
		return
	}
	s.i += len(word)
}

// null consumes a null if that is the next value.
func (s *jscan) null() bool {
	if s.ws() == 'n' {
		s.lit("null")
		return true
	}
	return false
}

// number scans a number and returns its text.
func (s *jscan) number() []byte {
	b, start := s.b, s.i
	i := s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		s.i = i
		s.fail()
		return nil
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			s.i = i
			s.fail()
			return nil
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			s.i = i
			s.fail()
			return nil
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	s.i = i
	return b[start:i]
}

// str scans a string (s.i at its opening quote) and returns its contents,
// still quoted inside (escapes as written), and whether they need
// unquoting (an escape, or a byte that is not ASCII).
func (s *jscan) str() ([]byte, bool) {
	b := s.b
	i := s.i + 1
	start := i
	plain := true
	for i < len(b) {
		c := b[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		switch {
		case c == '"':
			s.i = i + 1
			return b[start:i], !plain
		case c == '\\':
			plain = false
			if i+1 >= len(b) {
				s.i = i
				s.fail()
				return nil, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
					s.i = i
					s.fail()
					return nil, false
				}
				i += 6
			default:
				s.i = i
				s.fail()
				return nil, false
			}
		case c < 0x20:
			s.i = i
			s.fail()
			return nil, false
		default:
			if c >= utf8.RuneSelf {
				plain = false
			}
			i++
		}
	}
	s.i = i
	s.fail()
	return nil, false
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// stringValue reads a string value, unquoted (s.i at its opening quote).
func (s *jscan) stringValue() string {
	raw, escaped := s.str()
	if s.err != nil {
		return ""
	}
	if !escaped {
		return string(raw)
	}
	return string(unquoteJSON(raw))
}

// object walks an object (s.i at '{'), calling field with each key
// (unquoted; valid only during the call) with s.i before its value, which
// field must consume.
func (s *jscan) object(field func(key []byte)) {
	if !s.enter() {
		return
	}
	s.i++ // '{'
	if s.ws() == '}' {
		s.i++
		s.depth--
		return
	}
	for s.err == nil {
		if s.ws() != '"' {
			s.fail()
			return
		}
		raw, escaped := s.str()
		if s.err != nil {
			return
		}
		key := raw
		if escaped {
			key = unquoteJSON(raw)
		}
		if s.ws() != ':' {
			s.fail()
			return
		}
		s.i++
		field(key)
		if s.err != nil {
			return
		}
		switch s.ws() {
		case ',':
			s.i++
		case '}':
			s.i++
			s.depth--
			return
		default:
			s.fail()
			return
		}
	}
}

// array walks an array (s.i at '['), calling elem with s.i before each
// element, which elem must consume.
func (s *jscan) array(elem func()) {
	if !s.enter() {
		return
	}
	s.i++ // '['
	if s.ws() == ']' {
		s.i++
		s.depth--
		return
	}
	for s.err == nil {
		elem()
		if s.err != nil {
			return
		}
		switch s.ws() {
		case ',':
			s.i++
		case ']':
			s.i++
			s.depth--
			return
		default:
			s.fail()
			return
		}
	}
}

// end checks that nothing but white space follows the value.
func (s *jscan) end() {
	if s.err == nil && s.ws() != 0 {
		s.fail()
	}
}

// keyIs matches an object key to a field name as encoding/json does:
// exactly, or else case-insensitively.
func keyIs(key []byte, name string) bool {
	return string(key) == name || bytes.EqualFold(key, []byte(name))
}

// field returns the name of fields that key stands for, as encoding/json
// finds it (an exact match first, else a case-insensitive one), or "".
func field(key []byte, fields []string) string {
	for _, f := range fields {
		if string(key) == f {
			return f
		}
	}
	for _, f := range fields {
		if bytes.EqualFold(key, []byte(f)) {
			return f
		}
	}
	return ""
}

// The field readers below read one value into a field of the type named
// and return errType for a value of another type (consuming it anyway).

// readString: a string; null leaves dst as it is.
func (s *jscan) readString(dst *string) error {
	switch s.ws() {
	case '"':
		*dst = s.stringValue()
		return nil
	case 'n':
		s.lit("null")
		return nil
	}
	s.skip()
	return errType
}

// readStringPtr: a string; null sets dst to nil.
func (s *jscan) readStringPtr(dst **string) error {
	switch s.ws() {
	case '"':
		v := s.stringValue()
		*dst = &v
		return nil
	case 'n':
		s.lit("null")
		*dst = nil
		return nil
	}
	s.skip()
	return errType
}

// readBool: true or false; null leaves dst as it is.
func (s *jscan) readBool(dst *bool) error {
	switch s.ws() {
	case 't':
		s.lit("true")
		*dst = true
		return nil
	case 'f':
		s.lit("false")
		*dst = false
		return nil
	case 'n':
		s.lit("null")
		return nil
	}
	s.skip()
	return errType
}

// readBoolPtr: true or false; null sets dst to nil.
func (s *jscan) readBoolPtr(dst **bool) error {
	if s.null() {
		*dst = nil
		return nil
	}
	var v bool
	if err := s.readBool(&v); err != nil {
		return err
	}
	*dst = &v
	return nil
}

// readIntPtr: an integer number that fits an int; null sets dst to nil.
func (s *jscan) readIntPtr(dst **int) error {
	c := s.ws()
	if c == 'n' {
		s.lit("null")
		*dst = nil
		return nil
	}
	if c != '-' && (c < '0' || c > '9') {
		s.skip()
		return errType
	}
	text := s.number()
	if s.err != nil {
		return nil
	}
	n, err := strconv.ParseInt(string(text), 10, 64)
	if err != nil || n < math.MinInt || n > math.MaxInt {
		return errType
	}
	v := int(n)
	*dst = &v
	return nil
}

// numberMapValue reads what numberMap makes of a value: an object's
// finite numbers by name (a null counts as 0, anything else is dropped;
// the last of repeated names decides), nil for an empty object or any
// other value.
func (s *jscan) numberMapValue() map[string]float64 {
	if s.ws() != '{' {
		s.skip()
		return nil
	}
	var out map[string]float64
	s.object(func(key []byte) {
		if out == nil {
			out = make(map[string]float64, 8)
		}
		k := internKey(key)
		switch c := s.ws(); {
		case c == 'n':
			s.lit("null")
			out[k] = 0
		case c == '-' || c >= '0' && c <= '9':
			text := s.number()
			if s.err != nil {
				return
			}
			if f, ok := parseFloat(text); ok {
				out[k] = f
			} else {
				delete(out, k)
			}
		default:
			s.skip()
			delete(out, k)
		}
	})
	return out
}

// stringMapValue reads what stringMap makes of a value: an object's
// strings by name (a null counts as "", anything else is dropped), nil for
// an empty object or any other value.
func (s *jscan) stringMapValue() map[string]string {
	if s.ws() != '{' {
		s.skip()
		return nil
	}
	var out map[string]string
	s.object(func(key []byte) {
		if out == nil {
			out = make(map[string]string, 4)
		}
		k := internKey(key)
		switch s.ws() {
		case '"':
			out[k] = s.stringValue()
		case 'n':
			s.lit("null")
			out[k] = ""
		default:
			s.skip()
			delete(out, k)
		}
	})
	return out
}

// millisValue reads what millis makes of a value.
func (s *jscan) millisValue() uint64 {
	c := s.ws()
	if c >= '0' && c <= '9' {
		text := s.number()
		if s.err != nil {
			return 0
		}
		if len(text) <= 19 {
			var v uint64
			digits := true
			for _, d := range text {
				if d < '0' || d > '9' {
					digits = false
					break
				}
				v = v*10 + uint64(d-'0')
			}
			if digits {
				return v
			}
		}
		return millis(text)
	}
	raw := s.skip()
	if s.err != nil {
		return 0
	}
	return millis(raw)
}

// pow10 are the powers of ten a float64 holds exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// parseFloat is encoding/json's reading of a number (valid JSON number
// text) into a float64, strconv.ParseFloat's result.
func parseFloat(text []byte) (float64, bool) {
	// The common case (resource amounts: "8.0", "7298460057.0") without
	// strconv: at most 15 digits with no exponent make an integer m and a
	// power of ten both exact in a float64, and one IEEE division of exact
	// operands is correctly rounded, as strconv's result is.
	t, neg := text, false
	if len(t) > 0 && t[0] == '-' {
		t, neg = t[1:], true
	}
	if len(t) > 0 && len(t) <= 16 {
		var m uint64
		digits, frac, dot := 0, 0, false
		ok := true
		for _, d := range t {
			switch {
			case d >= '0' && d <= '9':
				m = m*10 + uint64(d-'0')
				digits++
				if dot {
					frac++
				}
			case d == '.' && !dot:
				dot = true
			default:
				ok = false
			}
			if !ok {
				break
			}
		}
		if ok && digits <= 15 {
			f := float64(m) / pow10[frac]
			if neg {
				f = -f
			}
			return f, true
		}
	}
	f, err := strconv.ParseFloat(string(text), 64)
	return f, err == nil
}

// wellKnownKeys are names that recur in every row; their strings are
// shared instead of allocated per row.
var wellKnownKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"CPU", "GPU", "TPU", "memory", "object_store_memory", "node:__internal_head__",
		"ray.io/node-id", "ray.io/accelerator-type", "ray.io/market-type", "ray.io/availability-zone", "ray.io/node-group"} {
		m[k] = k
	}
	return m
}()

func internKey(key []byte) string {
	if k, ok := wellKnownKeys[string(key)]; ok {
		return k
	}
	return string(key)
}

// unquoteJSON is encoding/json's unquoteBytes for the contents of a string
// the scanner accepted.
func unquoteJSON(s []byte) []byte {
	r := 0
	for r < len(s) {
		c := s[r]
		if c == '\\' || c == '"' || c < ' ' {
			break
		}
		rr, size := utf8.DecodeRune(s[r:])
		if rr == utf8.RuneError && size == 1 {
			break
		}
		r += size
	}
	if r == len(s) {
		return s
	}
	b := make([]byte, len(s)+2*utf8.UTFMax)
	w := copy(b, s[0:r])
	for r < len(s) {
		if w >= len(b)-2*utf8.UTFMax {
			nb := make([]byte, (len(b)+utf8.UTFMax)*2)
			copy(nb, b[0:w])
			b = nb
		}
		switch c := s[r]; {
		case c == '\\':
			r++
			if r >= len(s) {
				return b[:w]
			}
			switch s[r] {
			case 'b':
				b[w] = '\b'
			case 'f':
				b[w] = '\f'
			case 'n':
				b[w] = '\n'
			case 'r':
				b[w] = '\r'
			case 't':
				b[w] = '\t'
			case 'u':
				r--
				rr := getu4(s[r:])
				if rr < 0 {
					return b[:w]
				}
				r += 6
				if utf16.IsSurrogate(rr) {
					rr1 := getu4(s[r:])
					if dec := utf16.DecodeRune(rr, rr1); dec != unicode.ReplacementChar {
						r += 6
						w += utf8.EncodeRune(b[w:], dec)
						continue
					}
					rr = unicode.ReplacementChar
				}
				w += utf8.EncodeRune(b[w:], rr)
				continue
			default: // '"', '\\', '/'
				b[w] = s[r]
			}
			r++
			w++
		case c < utf8.RuneSelf:
			b[w] = c
			r++
			w++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			w += utf8.EncodeRune(b[w:], rr)
		}
	}
	return b[0:w]
}

// getu4 decodes \uXXXX at the start of s, or returns -1.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c = c - '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}
