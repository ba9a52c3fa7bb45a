package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/castray/castray/host/api/client"
)

// selectorFlags are the ways to write a selector on the command line:
// --selector '{json}', or --kind/--cluster/--state/--label/--resource/--available.
type selectorFlags struct {
	raw                  string
	kind, cluster, state string
	labels               []string
	resources, avail     []string
}

func (s *selectorFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.raw, "selector", "", `selector as JSON, e.g. '{"kind": "ray-node", "resources": {"GPU": 1}}'`)
	f.StringVar(&s.kind, "kind", "", "select nodes of this kind: local, ray-node or ray-actor")
	f.StringVar(&s.cluster, "cluster", "", "select nodes of this cluster connection")
	f.StringVar(&s.state, "state", "", "select nodes in this state: active, inactive or dead")
	f.StringArrayVar(&s.labels, "label", nil, "select nodes with label k=v (repeatable)")
	f.StringArrayVar(&s.resources, "resource", nil, "select nodes with at least this total resource, e.g. GPU=1 (repeatable)")
	f.StringArrayVar(&s.avail, "available", nil, "select nodes with at least this available resource, e.g. CPU=2 (repeatable)")
	enumFlag(cmd, "kind", client.NodeKinds)
	enumFlag(cmd, "state", client.NodeStates)
}

// selector builds the selector the flags describe; nil when none was given.
// Mistakes are usage errors.
func (s *selectorFlags) selector() (*client.Selector, error) {
	fields := s.kind != "" || s.cluster != "" || s.state != "" || len(s.labels)+len(s.resources)+len(s.avail) > 0
	if s.raw != "" {
		if fields {
			return nil, usagef("--selector: give the JSON or the --kind/--cluster/--state/--label/--resource/--available flags, not both")
		}
		dec := json.NewDecoder(bytes.NewReader([]byte(s.raw)))
		dec.DisallowUnknownFields()
		var sel client.Selector
		if err := dec.Decode(&sel); err != nil {
			return nil, usagef("--selector %s: %v", s.raw, err)
		}
		if err := oneOf("--selector kind", sel.Kind, client.NodeKinds); err != nil {
			return nil, err
		}
		if err := oneOf("--selector state", sel.State, client.NodeStates); err != nil {
			return nil, err
		}
		return &sel, nil
	}
	if !fields {
		return nil, nil
	}
	if err := oneOf("--kind", s.kind, client.NodeKinds); err != nil {
		return nil, err
	}
	if err := oneOf("--state", s.state, client.NodeStates); err != nil {
		return nil, err
	}
	sel := &client.Selector{Kind: s.kind, Cluster: s.cluster, State: s.state}
	for _, kv := range s.labels {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--label %q: want key=value", kv)
		}
		if sel.Labels == nil {
			sel.Labels = map[string]string{}
		}
		sel.Labels[k] = v
	}
	var err error
	if sel.Resources, err = quantities("--resource", s.resources); err != nil {
		return nil, err
	}
	if sel.Available, err = quantities("--available", s.avail); err != nil {
		return nil, err
	}
	return sel, nil
}

func quantities(flag string, kvs []string) (map[string]float64, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := map[string]float64{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("%s %q: want NAME=NUMBER, e.g. GPU=1", flag, kv)
		}
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || n < 0 {
			return nil, usagef("%s %q: %q is not a non-negative number", flag, kv, v)
		}
		out[k] = n
	}
	return out, nil
}

// selectorString renders a selector for tables.
func selectorString(s *client.Selector) string {
	if s == nil {
		return "-"
	}
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Sprint(*s)
	}
	return string(b)
}
