package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
)

// A plugin's configuration is a struct with json tags, plus optional
// castray tags that describe each key for the schema:
//
//	type config struct {
//		Hosts []string `json:"hosts" castray:"required,desc=Hosts to probe, in order"`
//		Port  int      `json:"port" castray:"desc=Dashboard port"`
//	}
//
// The castray tag is a comma-separated list of options: "required" (the key
// must be present) and "desc=<text>" (the key's description; it takes the
// rest of the tag, commas included, so it comes last). SchemaFor derives
// the ConfigSchema from such a struct, and DecodeConfig decodes into it and
// checks it, so one declaration serves both.

// DecodeConfig decodes a plugin's JSON config block into dst (a pointer to a
// struct with json tags) and reports every problem at once, sorted by key:
// each unknown key, each value of the wrong type, each required key (castray
// tag "required") that is missing. Problems are ConfigErrors naming the key,
// ready to return from Configure. dst is changed only when there is no
// problem, and only for the keys present: set defaults before calling.
// Keys match the json names exactly or, as with encoding/json, ignoring
// case. A dst that is not a pointer to a struct is decoded by encoding/json
// and reports its first problem only.
func DecodeConfig(raw []byte, dst any) []*ConfigError {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return decodeAny(raw, dst)
	}
	fields := configFields(rv.Elem().Type())
	var keys map[string]json.RawMessage
	if len(bytes.TrimSpace(raw)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		if err := dec.Decode(&keys); err != nil {
			return []*ConfigError{{Message: "invalid config: the config must be a JSON object: " + err.Error()}}
		}
		if _, extra := dec.Token(); extra != io.EOF {
			return []*ConfigError{{Message: "trailing data after the config object"}}
		}
	}

	var problems []*ConfigError
	type assignment struct {
		f configField
		v reflect.Value
	}
	var assign []assignment
	seen := map[int]bool{} // field index → present
	for key, value := range keys {
		f, ok := lookupField(fields, key)
		if !ok {
			problems = append(problems, &ConfigError{Key: key, Message: "unknown key"})
			continue
		}
		if seen[f.index] {
			problems = append(problems, &ConfigError{Key: key, Message: fmt.Sprintf("given twice (as %q too)", f.name)})
			continue
		}
		seen[f.index] = true
		v := reflect.New(f.typ)
		if err := json.Unmarshal(value, v.Interface()); err != nil {
			problems = append(problems, &ConfigError{Key: key, Message: valueProblem(f, err)})
			continue
		}
		assign = append(assign, assignment{f, v.Elem()})
	}
	for _, f := range fields {
		if f.required && !seen[f.index] {
			problems = append(problems, &ConfigError{Key: f.name, Message: "required key is missing"})
		}
	}
	if len(problems) > 0 {
		slices.SortFunc(problems, func(a, b *ConfigError) int {
			if c := strings.Compare(a.GetKey(), b.GetKey()); c != 0 {
				return c
			}
			return strings.Compare(a.GetMessage(), b.GetMessage())
		})
		return problems
	}
	for _, a := range assign {
		rv.Elem().FieldByIndex(a.f.path).Set(a.v)
	}
	return nil
}

// valueProblem words a failed decode of one key's value.
func valueProblem(f configField, err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if typeErr.Type != nil && typeErr.Type != f.typ { // inside a list, map or object
			return fmt.Sprintf("expected %s, got %s where %s belongs", schemaType(f.typ), typeErr.Value, schemaType(typeErr.Type))
		}
		return fmt.Sprintf("expected %s, got %s", schemaType(f.typ), typeErr.Value)
	}
	return err.Error()
}

// decodeAny is DecodeConfig for a destination that is not a struct.
func decodeAny(raw []byte, dst any) []*ConfigError {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return []*ConfigError{{Message: "invalid config: " + err.Error()}}
	}
	if _, extra := dec.Token(); extra != io.EOF {
		return []*ConfigError{{Message: "trailing data after the config object"}}
	}
	return nil
}

// configField is one key of a config struct.
type configField struct {
	index       int   // position in the list, an identity
	path        []int // reflect field index, through embedded structs
	name        string
	typ         reflect.Type
	required    bool
	description string
}

// configFields lists the keys of a config struct the way encoding/json
// sees them: exported fields, json names, embedded structs flattened.
func configFields(t reflect.Type) []configField {
	var out []configField
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := range t.NumField() {
			sf := t.Field(i)
			path := append(slices.Clone(prefix), i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if sf.Anonymous && name == "" {
				ft := sf.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct && sf.Type.Kind() == reflect.Struct {
					walk(ft, path)
					continue
				}
			}
			if !sf.IsExported() {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			f := configField{index: len(out), path: path, name: name, typ: sf.Type}
			f.required, f.description = parseCastrayTag(sf.Tag.Get("castray"))
			out = append(out, f)
		}
	}
	walk(t, nil)
	return out
}

// parseCastrayTag reads `castray:"required,desc=..."`.
func parseCastrayTag(tag string) (required bool, desc string) {
	for tag != "" {
		if rest, ok := strings.CutPrefix(tag, "desc="); ok {
			return required, rest
		}
		opt, after, _ := strings.Cut(tag, ",")
		if strings.TrimSpace(opt) == "required" {
			required = true
		}
		tag = after
	}
	return required, ""
}

func lookupField(fields []configField, key string) (configField, bool) {
	for _, f := range fields {
		if f.name == key {
			return f, true
		}
	}
	for _, f := range fields {
		if strings.EqualFold(f.name, key) {
			return f, true
		}
	}
	return configField{}, false
}

// schemaType names a Go type in the ConfigField type vocabulary.
func schemaType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "int"
	case reflect.Float32, reflect.Float64:
		return "float"
	case reflect.Slice, reflect.Array:
		return "list(" + schemaType(t.Elem()) + ")"
	case reflect.Map:
		return "map(" + schemaType(t.Elem()) + ")"
	}
	return "object"
}

// SchemaFor derives a ConfigSchema from a config struct (or a pointer to
// one): one field per key DecodeConfig accepts, in declaration order, with
// the type from the Go type (string, int, float, bool, list(T), map(T),
// else object), description and required from the castray tag, and as the
// default the JSON of the value's field when it is not the zero value. Pass
// the value holding the defaults, the one Configure starts from:
//
//	func (s *strategy) ConfigSchema(context.Context) (*sdk.ConfigSchema, error) {
//		return sdk.SchemaFor(defaults())
//	}
func SchemaFor(cfg any) (*ConfigSchema, error) {
	rv := reflect.ValueOf(cfg)
	for rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return nil, fmt.Errorf("sdk.SchemaFor: %T is not a struct or a pointer to one", cfg)
	}
	schema := &ConfigSchema{}
	for _, f := range configFields(rv.Type()) {
		field := &ConfigField{Name: f.name, Type: schemaType(f.typ), Description: f.description, Required: f.required}
		if v, err := rv.FieldByIndexErr(f.path); err == nil && !v.IsZero() {
			b, err := json.Marshal(v.Interface())
			if err != nil {
				return nil, fmt.Errorf("sdk.SchemaFor: default of %q: %w", f.name, err)
			}
			field.DefaultJson = string(b)
		}
		schema.Fields = append(schema.Fields, field)
	}
	return schema, nil
}

// ConfigErrorsString renders ConfigErrors as "key: message; key: message".
func ConfigErrorsString(errs []*ConfigError) string {
	parts := make([]string, 0, len(errs))
	for _, e := range errs {
		if e.GetKey() == "" {
			parts = append(parts, e.GetMessage())
			continue
		}
		parts = append(parts, e.GetKey()+": "+e.GetMessage())
	}
	return strings.Join(parts, "; ")
}
