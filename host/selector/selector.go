package selector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/castray/castray/host/registry"
)

// Selector describes the nodes to choose from. Every field given must
// match; an empty Selector matches every node.
type Selector struct {
	// Cluster is the id of an external cluster (a node's cluster_id).
	Cluster string `json:"cluster,omitempty"`
	// Kind is a node kind: local, ray-node or ray-actor.
	Kind registry.Kind `json:"kind,omitempty"`
	// State is a node state: active, inactive or dead.
	State registry.State `json:"state,omitempty"`
	// Labels must all be present on the node with these values.
	Labels map[string]string `json:"labels,omitempty"`
	// Resources are minimum totals: the node's resources[name] must be at
	// least the value (a resource the node does not report counts as 0).
	Resources map[string]float64 `json:"resources,omitempty"`
	// Available are minimum available amounts, compared like Resources
	// with the node's available map.
	Available map[string]float64 `json:"available,omitempty"`
}

// FieldError is invalid input; Field names it the way a client wrote it
// ("selector.kind", "selector.resources.GPU", "pick.count").
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// ErrNotEnough is wrapped by Choose when fewer nodes qualify than the pick
// asks for.
var ErrNotEnough = errors.New("not enough matching active nodes")

// Kinds and States are the values Kind and State accept.
var (
	Kinds  = []registry.Kind{registry.KindLocal, registry.KindRayNode, registry.KindRayActor}
	States = []registry.State{registry.StateActive, registry.StateInactive, registry.StateDead}
)

var selectorKeys = []string{"cluster", "kind", "state", "labels", "resources", "available"}

// Decode reads a selector from a JSON object strictly: an unknown key, a
// value of the wrong type, an unknown kind or state, an empty label or
// resource name, or a negative resource amount is a *FieldError naming the
// field. The selector's fields are named "selector.<key>".
func Decode(raw []byte) (Selector, error) {
	return decodeAt("selector", raw)
}

// DecodeAt is Decode with another name for the selector in errors (for
// example "group.selector").
func DecodeAt(field string, raw []byte) (Selector, error) {
	return decodeAt(field, raw)
}

func decodeAt(at string, raw []byte) (Selector, error) {
	obj, err := object(at, raw, selectorKeys)
	if err != nil {
		return Selector{}, err
	}
	var s Selector
	var kind, state string
	targets := map[string]any{
		"cluster": &s.Cluster, "kind": &kind, "state": &state,
		"labels": &s.Labels, "resources": &s.Resources, "available": &s.Available,
	}
	for _, k := range selectorKeys {
		v, ok := obj[k]
		if !ok {
			continue
		}
		if err := json.Unmarshal(v, targets[k]); err != nil {
			return Selector{}, fieldErr(at+"."+k, "%s", typeMsg(k, err))
		}
	}
	s.Kind, s.State = registry.Kind(kind), registry.State(state)
	if err := s.validate(at); err != nil {
		return Selector{}, err
	}
	return s, nil
}

// object parses raw as a JSON object whose keys are all in known.
func object(at string, raw []byte, known []string) (map[string]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, fieldErr(at, "must be a JSON object")
	}
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&obj); err != nil {
		return nil, fieldErr(at, "invalid JSON object: %v", err)
	}
	if dec.More() {
		return nil, fieldErr(at, "trailing data after the JSON object")
	}
	var unknown []string
	for k := range obj {
		if !slices.Contains(known, k) {
			unknown = append(unknown, strconv.Quote(k))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		word := "key"
		if len(unknown) > 1 {
			word = "keys"
		}
		return nil, fieldErr(at, "unknown %s %s (known keys: %s)", word, strings.Join(unknown, ", "), strings.Join(known, ", "))
	}
	return obj, nil
}

// typeMsg says what a key's value must be when it did not decode.
func typeMsg(key string, err error) string {
	switch key {
	case "labels":
		return "must be an object of strings"
	case "resources", "available":
		return "must be an object of numbers"
	case "count":
		return "must be a whole number"
	default:
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return "must be a string, got " + te.Value
		}
		return "must be a string"
	}
}

// Validate checks a selector built in Go (Decode already does).
func (s Selector) Validate() error { return s.validate("selector") }

func (s Selector) validate(at string) error {
	if s.Kind != "" && !slices.Contains(Kinds, s.Kind) {
		return fieldErr(at+".kind", "%q is not a node kind (one of %s)", s.Kind, joinAny(Kinds))
	}
	if s.State != "" && !slices.Contains(States, s.State) {
		return fieldErr(at+".state", "%q is not a node state (one of %s)", s.State, joinAny(States))
	}
	for _, k := range slices.Sorted(maps.Keys(s.Labels)) {
		if k == "" {
			return fieldErr(at+".labels", "a label name is empty")
		}
	}
	for _, m := range []struct {
		name string
		v    map[string]float64
	}{{"resources", s.Resources}, {"available", s.Available}} {
		for _, k := range slices.Sorted(maps.Keys(m.v)) {
			v := m.v[k]
			switch {
			case k == "":
				return fieldErr(at+"."+m.name, "a resource name is empty")
			case math.IsNaN(v) || math.IsInf(v, 0):
				return fieldErr(at+"."+m.name+"."+k, "must be a finite number")
			case v < 0:
				return fieldErr(at+"."+m.name+"."+k, "must be at least 0, got %s", num(v))
			}
		}
	}
	return nil
}

func joinAny[T ~string](vs []T) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// IsZero reports whether the selector matches every node.
func (s Selector) IsZero() bool {
	return s.Cluster == "" && s.Kind == "" && s.State == "" &&
		len(s.Labels) == 0 && len(s.Resources) == 0 && len(s.Available) == 0
}

// Match reports whether n satisfies every field of the selector.
func (s Selector) Match(n registry.Node) bool {
	if s.Cluster != "" && n.ClusterID != s.Cluster ||
		s.Kind != "" && n.Kind != s.Kind ||
		s.State != "" && n.State != s.State {
		return false
	}
	for k, v := range s.Labels {
		if got, ok := n.Labels[k]; !ok || got != v {
			return false
		}
	}
	for k, v := range s.Resources {
		if n.Resources[k] < v {
			return false
		}
	}
	for k, v := range s.Available {
		if n.Available[k] < v {
			return false
		}
	}
	return true
}

// Select returns the nodes that match, sorted by id. The input is not
// changed.
func (s Selector) Select(nodes []registry.Node) []registry.Node {
	out := []registry.Node{}
	for _, n := range nodes {
		if s.Match(n) {
			out = append(out, n)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// ScoreResources are the resources whose available amounts rank nodes: the
// ones the selector names (in Resources or Available), sorted, or CPU when
// it names none.
func (s Selector) ScoreResources() []string {
	set := map[string]bool{}
	for k := range s.Resources {
		set[k] = true
	}
	for k := range s.Available {
		set[k] = true
	}
	if len(set) == 0 {
		return []string{"CPU"}
	}
	return slices.Sorted(maps.Keys(set))
}

// String describes the selector for messages ("kind=local, labels.zone=a").
func (s Selector) String() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("cluster", s.Cluster)
	add("kind", string(s.Kind))
	add("state", string(s.State))
	for _, k := range slices.Sorted(maps.Keys(s.Labels)) {
		parts = append(parts, "labels."+k+"="+s.Labels[k])
	}
	for _, k := range slices.Sorted(maps.Keys(s.Resources)) {
		parts = append(parts, "resources."+k+">="+num(s.Resources[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(s.Available)) {
		parts = append(parts, "available."+k+">="+num(s.Available[k]))
	}
	if len(parts) == 0 {
		return "every node"
	}
	return strings.Join(parts, ", ")
}

// num formats a resource amount without trailing zeros.
func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
