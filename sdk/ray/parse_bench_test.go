package ray

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The listing decoders' benchmark, and the typed-struct decoders it
// measures the JSON libraries with (parse_scan.go says why the project
// reads the listings by hand). decodeStateNodesWith and
// decodeStateActorsWith decode a listing in one call of a library's
// Unmarshal into struct-tagged types (no RawMessage levels) and build
// the same Nodes and Actors: to measure a library, add it to
// listingLibs (and, for the time of the measurement, to go.mod). The
// figures in parse_scan.go were measured so with goccy/go-json v0.10.5,
// segmentio/encoding v0.5.4 and bytedance/sonic v1.15.5:
//
//	go test -run '^$' -bench Listings -benchtime 5x -count 5 ./sdk/ray/
//
// On a shared machine compare cpu-ms/op (the process's CPU time, GC
// included) of decoders measured in the same run.

var listingLibs = []struct {
	name      string
	unmarshal unmarshalFunc
}{
	{"encoding-json-typed", json.Unmarshal},
}

// stateEnvelope is a State API listing as a whole, its rows typed.
type stateEnvelope[R any] struct {
	Result *bool  `json:"result"`
	Msg    string `json:"msg"`
	Data   *struct {
		Result *struct {
			Total              *int     `json:"total"`
			NumAfterTruncation *int     `json:"num_after_truncation"`
			NumFiltered        *int     `json:"num_filtered"`
			Result             []R      `json:"result"`
			Warning            *string  `json:"partial_failure_warning"`
			Warnings           []string `json:"warnings"`
		} `json:"result"`
	} `json:"data"`
}

type stateNodeRow struct {
	NodeID       string             `json:"node_id"`
	NodeIP       string             `json:"node_ip"`
	IsHead       bool               `json:"is_head_node"`
	State        string             `json:"state"`
	StateMessage *string            `json:"state_message"`
	NodeName     string             `json:"node_name"`
	Resources    map[string]float64 `json:"resources_total"`
	Labels       map[string]string  `json:"labels"`
	Start        uint64             `json:"start_time_ms"`
	End          uint64             `json:"end_time_ms"`
}

type stateActorRow struct {
	ActorID   string             `json:"actor_id"`
	ClassName string             `json:"class_name"`
	State     string             `json:"state"`
	JobID     string             `json:"job_id"`
	Name      string             `json:"name"`
	NodeID    *string            `json:"node_id"`
	PID       uint64             `json:"pid"`
	Namespace string             `json:"ray_namespace"`
	Required  map[string]float64 `json:"required_resources"`
	Address   *struct {
		IP   string `json:"ip_address"`
		Port uint64 `json:"port"`
	} `json:"address"`
}

// unmarshalFunc is a library's Unmarshal.
type unmarshalFunc func([]byte, any) error

// decodeStateList reads a listing in one call of unmarshal.
func decodeStateList[R any](unmarshal unmarshalFunc, what string, body []byte) ([]R, StateListing, error) {
	var e stateEnvelope[R]
	if err := unmarshal(body, &e); err != nil {
		return nil, StateListing{}, fmt.Errorf("%s: %w", what, err)
	}
	switch {
	case e.Result == nil:
		return nil, StateListing{}, fmt.Errorf("%s: not a Ray dashboard answer (no result)", what)
	case !*e.Result:
		return nil, StateListing{}, &StatusError{Method: what, Code: 200, Message: e.Msg}
	case e.Data == nil:
		return nil, StateListing{}, fmt.Errorf("%s: no data", what)
	}
	r := e.Data.Result
	if r == nil || r.Result == nil {
		return nil, StateListing{}, fmt.Errorf("%s: no result list", what)
	}
	n := len(r.Result)
	l := StateListing{Returned: n, Total: n, NumAfterTruncation: n, NumFiltered: n}
	if t := r.Total; t != nil && *t > l.Total {
		l.Total = *t
	}
	l.NumAfterTruncation = l.Total
	if v := r.NumAfterTruncation; v != nil && *v >= 0 {
		l.NumAfterTruncation = *v
	}
	if v := r.NumFiltered; v != nil && *v > n {
		l.NumFiltered = *v
	}
	var warns []string
	if r.Warning != nil && *r.Warning != "" {
		warns = append(warns, clip(*r.Warning))
	}
	for _, w := range r.Warnings {
		if w != "" {
			warns = append(warns, clip(w))
		}
	}
	l.Warning = strings.Join(warns, "; ")
	return r.Result, l, nil
}

func decodeStateNodesWith(unmarshal unmarshalFunc, body []byte) ([]Node, StateListing, error) {
	rows, l, err := decodeStateList[stateNodeRow](unmarshal, "api/v0/nodes", body)
	if err != nil {
		return nil, l, err
	}
	nodes := make([]Node, 0, len(rows))
	for i := range rows {
		r := &rows[i]
		id := cleanHexID(r.NodeID)
		if id == "" || !validState(r.State) {
			return nil, l, fmt.Errorf("api/v0/nodes: node row without a node id or state (%q, %q)", clip(r.NodeID), clip(r.State))
		}
		n := Node{
			NodeID: id, Address: cleanIP(r.NodeIP), IsHead: r.IsHead, State: stateName(r.State),
			NodeName: clip(r.NodeName), StartTimeMs: r.Start, EndTimeMs: r.End,
		}
		if len(r.Resources) > 0 {
			n.ResourcesTotal = r.Resources
		}
		if len(r.Labels) > 0 {
			n.Labels = r.Labels
		}
		if r.StateMessage != nil {
			n.StateReason = clip(*r.StateMessage)
		}
		nodes = append(nodes, n)
	}
	return nodes, l, nil
}

func decodeStateActorsWith(unmarshal unmarshalFunc, body []byte) ([]Actor, StateListing, error) {
	rows, l, err := decodeStateList[stateActorRow](unmarshal, "api/v0/actors", body)
	if err != nil {
		return nil, l, err
	}
	actors := make([]Actor, 0, len(rows))
	for i := range rows {
		r := &rows[i]
		id := cleanHexID(r.ActorID)
		if id == "" || !actorStates[r.State] {
			return nil, l, fmt.Errorf("api/v0/actors: actor row without an actor id or state (%q, %q)", clip(r.ActorID), clip(r.State))
		}
		a := Actor{
			ActorID: id, ClassName: clip(r.ClassName), Name: clip(r.Name), Namespace: clip(r.Namespace),
			State: stateName(r.State), JobID: cleanHexID(r.JobID),
		}
		if len(r.Required) > 0 {
			a.RequiredResources = r.Required
		}
		if r.NodeID != nil {
			a.NodeID = cleanHexID(*r.NodeID)
		}
		if r.PID > 0 && r.PID <= math.MaxUint32 {
			a.PID = uint32(r.PID)
		}
		if r.Address != nil {
			if ip := cleanIP(r.Address.IP); ip != "" && r.Address.Port > 0 && r.Address.Port <= 65535 {
				a.Address = net.JoinHostPort(ip, strconv.FormatUint(r.Address.Port, 10))
			}
		}
		actors = append(actors, a)
	}
	return actors, l, nil
}

// The typed decoders read Ray's listings as the one-pass reader does.
func TestTypedListingsAsScan(t *testing.T) {
	bodies := [][]byte{scaleListing(2000), scaleActorListing(2000)}
	for _, pattern := range []string{"testdata/live-2.60.0/*", "../../e2e/raycluster/testdata/live-*/*"} {
		names, _ := filepath.Glob(pattern)
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err != nil {
				t.Fatal(err)
			}
			bodies = append(bodies, b)
		}
	}
	for _, lib := range listingLibs {
		for _, body := range bodies {
			n1, l1, e1 := parseStateNodes(body)
			n2, l2, e2 := decodeStateNodesWith(lib.unmarshal, body)
			if (e1 != nil) != (e2 != nil) || e1 == nil && (!reflect.DeepEqual(n1, n2) || l1 != l2) {
				t.Errorf("%s: nodes of %q: %v, scan's %v", lib.name, clip(string(body)), e2, e1)
			}
			a1, al1, ae1 := parseStateActors(body)
			a2, al2, ae2 := decodeStateActorsWith(lib.unmarshal, body)
			if (ae1 != nil) != (ae2 != nil) || ae1 == nil && (!reflect.DeepEqual(a1, a2) || al1 != al2) {
				t.Errorf("%s: actors of %q: %v, scan's %v", lib.name, clip(string(body)), ae2, ae1)
			}
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchListing(b *testing.B, body []byte, decode func([]byte) error) {
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	c0 := cpuTime()
	for b.Loop() {
		if err := decode(body); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-c0)/float64(b.N)/1e6, "cpu-ms/op")
}

// BenchmarkListings decodes a 10,000-node and a 50,000-actor listing
// shaped like Ray 2.60's with the one-pass reader (scan), the encoding/json
// decoders it replaced (ref) and the typed decoders of listingLibs.
func BenchmarkListings(b *testing.B) {
	for _, l := range []struct {
		name  string
		body  []byte
		scan  func([]byte) error
		ref   func([]byte) error
		typed func(unmarshalFunc, []byte) error
	}{
		{"nodes10k", scaleListing(10000),
			func(x []byte) error { _, _, err := parseStateNodes(x); return err },
			func(x []byte) error { _, _, err := refParseStateNodes(x); return err },
			func(u unmarshalFunc, x []byte) error { _, _, err := decodeStateNodesWith(u, x); return err }},
		{"actors50k", scaleActorListing(50000),
			func(x []byte) error { _, _, err := parseStateActors(x); return err },
			func(x []byte) error { _, _, err := refParseStateActors(x); return err },
			func(u unmarshalFunc, x []byte) error { _, _, err := decodeStateActorsWith(u, x); return err }},
	} {
		b.Run(l.name+"/scan", func(b *testing.B) { benchListing(b, l.body, l.scan) })
		b.Run(l.name+"/ref", func(b *testing.B) { benchListing(b, l.body, l.ref) })
		for _, lib := range listingLibs {
			b.Run(l.name+"/"+lib.name, func(b *testing.B) {
				benchListing(b, l.body, func(x []byte) error { return l.typed(lib.unmarshal, x) })
			})
		}
	}
}
