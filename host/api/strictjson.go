package api

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// strictUnmarshal decodes one JSON value into v and refuses what
// encoding/json lets through: a key that is not a field of the target
// (DisallowUnknownFields), a key that names a field in another case
// ({"NODE_ID": …} for node_id, which encoding/json accepts), a key given
// twice in one object (encoding/json keeps the last), and data after the
// value.
func strictUnmarshal(body []byte, v any) error {
	if err := checkKeys(json.NewDecoder(bytes.NewReader(body)), reflect.TypeOf(v), ""); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) || errors.Is(err, errKeys) {
			return err
		}
		// Anything else the key walk met (a truncated body) is reported by
		// the decoder below, in its own words.
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

var errKeys = errors.New("JSON keys")

// keyError is a key checkKeys refuses; it wraps errKeys.
type keyError struct{ msg string }

func (e *keyError) Error() string { return e.msg }
func (e *keyError) Unwrap() error { return errKeys }

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// checkKeys reads one JSON value from dec, following t (the Go type it
// decodes into; nil where any value goes), and refuses duplicate keys and
// keys that match a struct field only case-insensitively. Unknown keys are
// left to DisallowUnknownFields.
func checkKeys(dec *json.Decoder, t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler)) {
		t = nil // its own decoding; still walked for duplicates
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			key := kt.(string)
			at := key
			if path != "" {
				at = path + "." + key
			}
			if seen[key] {
				return &keyError{fmt.Sprintf("key %q is given twice", at)}
			}
			seen[key] = true
			var next reflect.Type
			if t != nil {
				switch t.Kind() {
				case reflect.Struct:
					f := fieldsOf(t)
					if ft, ok := f.exact[key]; ok {
						next = ft
					} else if name, ok := f.folded[strings.ToLower(key)]; ok {
						return &keyError{fmt.Sprintf("unknown field %q (keys are case-sensitive: %q)", at, joinPath(path, name))}
					}
				case reflect.Map:
					next = t.Elem()
				}
			}
			if err := checkKeys(dec, next, at); err != nil {
				return err
			}
		}
		_, err = dec.Token() // '}'
		return err
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := checkKeys(dec, elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
		return err
	}
	return nil
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// structFields are a struct's JSON names: exact → type, and lower case →
// exact name.
type structFields struct {
	exact  map[string]reflect.Type
	folded map[string]string
}

var fieldCache sync.Map // reflect.Type → structFields

// fieldsOf lists the JSON names encoding/json decodes into t, promoted
// fields of embedded structs included.
func fieldsOf(t reflect.Type) structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(structFields)
	}
	f := structFields{exact: map[string]reflect.Type{}, folded: map[string]string{}}
	for _, sf := range reflect.VisibleFields(t) {
		tag, hasTag := sf.Tag.Lookup("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" && tag == "-" {
			continue
		}
		ft := sf.Type
		if sf.Anonymous && !hasTag {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				continue // its fields are promoted and listed on their own
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if _, dup := f.exact[name]; !dup {
			f.exact[name] = sf.Type
			f.folded[strings.ToLower(name)] = name
		}
	}
	fieldCache.Store(t, f)
	return f
}
