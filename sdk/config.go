package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// DecodeConfig decodes a plugin's JSON config block into dst (a pointer to a
// struct with json tags), rejecting unknown keys and wrong types. Problems are
// returned as ConfigErrors naming the key, ready to return from Configure.
// Empty input leaves dst untouched, so set defaults before calling.
func DecodeConfig(raw []byte, dst any) []*ConfigError {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			return []*ConfigError{{Message: "trailing data after the config object"}}
		}
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return []*ConfigError{{
			Key:     typeErr.Field,
			Message: fmt.Sprintf("expected %s, got %s", typeErr.Type, typeErr.Value),
		}}
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		key := strings.Trim(strings.TrimPrefix(msg, "json: unknown field "), `"`)
		return []*ConfigError{{Key: key, Message: "unknown key"}}
	}
	return []*ConfigError{{Message: "invalid config: " + err.Error()}}
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
