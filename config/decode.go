package config

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// This file turns the merged koanf map into a Config. It is a small
// reflective decoder rather than mapstructure so that every problem (unknown
// key, wrong type, unparsable string) is reported with its full key path and
// all of them are collected in one pass.
//
// Typing rules:
//   - strings are taken as numbers or booleans where the schema wants one
//     (environment variables and quoted values): "8000", "true", "0";
//   - numbers are never taken as strings, nor booleans as numbers;
//   - a string where a list is wanted is split on commas ("9000,9999");
//   - null means "not set": the default is kept;
//   - the free-form sections (ray_cluster.runtime_env, plugin.<name>.config)
//     accept any value; numbers there become int when whole and float64
//     otherwise, whatever the file format.

// tagName returns the koanf key of a struct field, "" if it has none.
func tagName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("koanf"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// fieldKeys lists the koanf keys of a struct type, in field order.
func fieldKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if k := tagName(t.Field(i)); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

type decoder struct {
	p *problems
}

// decode stores in into out (settable), reporting problems at path.
func (d *decoder) decode(path string, in any, out reflect.Value) {
	if in == nil {
		return // null: keep what is there (the default)
	}
	switch out.Kind() {
	case reflect.Struct:
		d.decodeStruct(path, in, out)
	case reflect.Map:
		d.decodeMap(path, in, out)
	case reflect.Pointer:
		v := reflect.New(out.Type().Elem())
		before := len(d.p.list)
		d.decode(path, in, v.Elem())
		if len(d.p.list) == before {
			out.Set(v)
		}
	case reflect.Slice:
		d.decodeSlice(path, in, out)
	case reflect.Interface:
		if v, ok := d.freeForm(path, in); ok {
			out.Set(reflect.ValueOf(&v).Elem())
		}
	case reflect.String:
		s, ok := in.(string)
		if !ok {
			d.p.at(path, "expected a string, got %s", describe(in))
			return
		}
		out.SetString(s)
	case reflect.Bool:
		d.decodeBool(path, in, out)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		d.decodeInt(path, in, out)
	case reflect.Float32, reflect.Float64:
		d.decodeFloat(path, in, out)
	default:
		// Only reachable if a field of an unsupported type is added to Config.
		panic(fmt.Sprintf("config: %s: unsupported field type %s", path, out.Type()))
	}
}

func (d *decoder) decodeStruct(path string, in any, out reflect.Value) {
	m, ok := in.(map[string]any)
	if !ok {
		d.p.at(path, "expected a block/object, got %s", describe(in))
		return
	}
	t := out.Type()
	byKey := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		if k := tagName(t.Field(i)); k != "" {
			byKey[k] = i
		}
	}
	for _, k := range sortedKeys(m) {
		i, ok := byKey[k]
		if !ok {
			d.p.unknown(path, k, fieldKeys(t))
			continue
		}
		d.decode(joinKey(path, k), m[k], out.Field(i))
	}
}

func (d *decoder) decodeMap(path string, in any, out reflect.Value) {
	m, ok := in.(map[string]any)
	if !ok {
		d.p.at(path, "expected a block/object, got %s", describe(in))
		return
	}
	t := out.Type()
	if t.Key().Kind() != reflect.String {
		panic(fmt.Sprintf("config: %s: unsupported map type %s", path, t))
	}
	res := reflect.MakeMapWithSize(t, len(m))
	for _, k := range sortedKeys(m) {
		kp := joinKey(path, k)
		if t == reflect.TypeFor[map[string]Plugin]() && !validPluginName(k) {
			d.p.add(kp, fmt.Sprintf("%s: invalid plugin name %q: use letters, digits, '-' and '_' (at most 64, starting with a letter or digit)", kp, k))
			continue
		}
		v := reflect.New(t.Elem()).Elem()
		if t.Elem().Kind() == reflect.Interface {
			fv, ok := d.freeForm(kp, m[k])
			if !ok {
				continue
			}
			if fv != nil {
				v.Set(reflect.ValueOf(fv))
			}
		} else {
			if m[k] == nil {
				// `plugin "x" {}` decodes to an empty object, never null; a
				// JSON null plugin is taken as an empty block.
				res.SetMapIndex(reflect.ValueOf(k), v)
				continue
			}
			d.decode(kp, m[k], v)
		}
		res.SetMapIndex(reflect.ValueOf(k), v)
	}
	out.Set(res)
}

func (d *decoder) decodeSlice(path string, in any, out reflect.Value) {
	var items []any
	switch x := in.(type) {
	case []any:
		items = x
	case string:
		// Environment variables and flags: "9000,9999".
		if strings.TrimSpace(x) != "" {
			for _, part := range strings.Split(x, ",") {
				items = append(items, strings.TrimSpace(part))
			}
		}
	default:
		d.p.at(path, "expected a list, got %s", describe(in))
		return
	}
	res := reflect.MakeSlice(out.Type(), len(items), len(items))
	for i, item := range items {
		ip := fmt.Sprintf("%s[%d]", path, i)
		if item == nil {
			d.p.at(ip, "expected a value, got null")
			continue
		}
		d.decode(ip, item, res.Index(i))
	}
	out.Set(res)
}

func (d *decoder) decodeBool(path string, in any, out reflect.Value) {
	switch x := in.(type) {
	case bool:
		out.SetBool(x)
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(x))
		if err != nil {
			d.p.at(path, "cannot parse %q as a boolean (use true or false)", x)
			return
		}
		out.SetBool(b)
	default:
		d.p.at(path, "expected a boolean, got %s", describe(in))
	}
}

func (d *decoder) decodeInt(path string, in any, out reflect.Value) {
	var n int64
	switch x := in.(type) {
	case string:
		s := strings.TrimSpace(x)
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			f, ferr := strconv.ParseFloat(s, 64)
			switch {
			case ferr == nil && !math.IsInf(f, 0) && !math.IsNaN(f):
				d.intFromFloat(path, f, out)
			case isRangeErr(err):
				d.p.at(path, "%s is out of range", s)
			default:
				d.p.at(path, "cannot parse %q as a number", x)
			}
			return
		}
		n = i
	case json.Number:
		i, err := x.Int64()
		if err != nil {
			f, ferr := x.Float64()
			if ferr != nil {
				d.p.at(path, "%s is out of range", x)
				return
			}
			d.intFromFloat(path, f, out)
			return
		}
		n = i
	case float64:
		d.intFromFloat(path, x, out)
		return
	case float32:
		d.intFromFloat(path, float64(x), out)
		return
	default:
		rv := reflect.ValueOf(in)
		switch rv.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			n = rv.Int()
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			u := rv.Uint()
			if u > math.MaxInt64 {
				d.p.at(path, "%d is out of range", u)
				return
			}
			n = int64(u)
		default:
			d.p.at(path, "expected a number, got %s", describe(in))
			return
		}
	}
	if out.OverflowInt(n) {
		d.p.at(path, "%d is out of range", n)
		return
	}
	out.SetInt(n)
}

func (d *decoder) intFromFloat(path string, f float64, out reflect.Value) {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		d.p.at(path, "must be a finite number, got %v", f)
	case f != math.Trunc(f):
		d.p.at(path, "must be a whole number, got %v", f)
	case f < -(1<<63) || f >= 1<<63 || out.OverflowInt(int64(f)):
		d.p.at(path, "%v is out of range", f)
	default:
		out.SetInt(int64(f))
	}
}

func (d *decoder) decodeFloat(path string, in any, out reflect.Value) {
	var f float64
	switch x := in.(type) {
	case string:
		v, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil && !isRangeErr(err) {
			d.p.at(path, "cannot parse %q as a number", x)
			return
		}
		f = v
	case json.Number:
		v, err := strconv.ParseFloat(string(x), 64)
		if err != nil && !isRangeErr(err) {
			d.p.at(path, "cannot parse %q as a number", x)
			return
		}
		f = v
	default:
		rv := reflect.ValueOf(in)
		switch rv.Kind() {
		case reflect.Float32, reflect.Float64:
			f = rv.Float()
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			f = float64(rv.Int())
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			f = float64(rv.Uint())
		default:
			d.p.at(path, "expected a number, got %s", describe(in))
			return
		}
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		d.p.at(path, "must be a finite number, got %v", f)
		return
	}
	if out.OverflowFloat(f) {
		d.p.at(path, "%v is out of range", f)
		return
	}
	out.SetFloat(f)
}

// freeForm copies a value of a free-form section, normalising numbers and
// rejecting the few values that could not be passed on as JSON.
func (d *decoder) freeForm(path string, in any) (any, bool) {
	switch x := in.(type) {
	case nil, string, bool:
		return x, true
	case map[string]any:
		out := make(map[string]any, len(x))
		ok := true
		for _, k := range sortedKeys(x) {
			v, vok := d.freeForm(joinKey(path, k), x[k])
			ok = ok && vok
			out[k] = v
		}
		return out, ok
	case []any:
		out := make([]any, len(x))
		ok := true
		for i, e := range x {
			v, vok := d.freeForm(fmt.Sprintf("%s[%d]", path, i), e)
			ok = ok && vok
			out[i] = v
		}
		return out, ok
	case json.Number:
		return normalizeNumber(x), true
	}
	rv := reflect.ValueOf(in)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n := rv.Int(); n >= math.MinInt && n <= math.MaxInt {
			return int(n), true
		}
		return float64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if u := rv.Uint(); u <= math.MaxInt {
			return int(u), true
		}
		return float64(rv.Uint()), true
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			d.p.at(path, "must be a finite number, got %v", f)
			return nil, false
		}
		return f, true
	}
	d.p.at(path, "unsupported value %s", describe(in))
	return nil, false
}

// normalizeNumber turns a JSON number into an int when whole and in range,
// else a float64 (±Inf for numbers too large even for that, which freeForm
// and the typed decoders then reject).
func normalizeNumber(n json.Number) any {
	if i, err := strconv.ParseInt(string(n), 10, 0); err == nil {
		return int(i)
	}
	f, _ := strconv.ParseFloat(string(n), 64)
	return f
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// describe names a value's type for messages: `a string ("x")`, `a number (3)`.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("a string (%s)", clip(strconv.Quote(x)))
	case bool:
		return fmt.Sprintf("a boolean (%v)", x)
	case map[string]any:
		return "a block/object"
	case []any, []map[string]any:
		return "a list"
	case json.Number:
		return fmt.Sprintf("a number (%s)", clip(string(x)))
	}
	switch reflect.ValueOf(v).Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return fmt.Sprintf("a number (%v)", v)
	}
	return fmt.Sprintf("a %T", v)
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// encode turns a Config (or part of one) into the map form koanf holds, by
// the koanf tags: the defaults layer (nil maps left out, so that Load with
// no input returns exactly Default()), and the base for matching environment
// variable names (emptyMaps: nil maps become empty maps so that every
// section exists).
func encode(v reflect.Value, emptyMaps bool) any {
	switch v.Kind() {
	case reflect.Struct:
		m := make(map[string]any, v.NumField())
		for i := range v.NumField() {
			if k := tagName(v.Type().Field(i)); k != "" {
				if e := encode(v.Field(i), emptyMaps); e != nil {
					m[k] = e
				}
			}
		}
		return m
	case reflect.Map:
		if v.IsNil() && !emptyMaps {
			return nil
		}
		m := make(map[string]any, v.Len())
		iter := v.MapRange()
		for iter.Next() {
			if e := encode(iter.Value(), emptyMaps); e != nil {
				m[iter.Key().String()] = e
			}
		}
		return m
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = encode(v.Index(i), emptyMaps)
		}
		return out
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return encode(v.Elem(), emptyMaps)
	default:
		return v.Interface()
	}
}
