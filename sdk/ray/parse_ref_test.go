package ray

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
)

// The encoding/json decoders of the State API listings that parse.go's
// one-pass reader replaced, kept as the reference it is compared with
// (parse_equiv_test.go). Unchanged but for their names.

// refStateList is a listing with its rows still raw, for the per-row decoders.
type refStateList struct {
	StateListing
	Rows []json.RawMessage
}

func refParseStateList(what string, body []byte) (refStateList, error) {
	// One pass over the envelope and the list (a listing of 10,000 nodes is
	// megabytes: decoding the envelope and then its data again cost a
	// third of a sync); the rows stay raw for the per-row decoders.
	var e struct {
		Result *bool  `json:"result"`
		Msg    string `json:"msg"`
		Data   *struct {
			Result *struct {
				Total              *int              `json:"total"`
				NumAfterTruncation *int              `json:"num_after_truncation"`
				NumFiltered        *int              `json:"num_filtered"`
				Result             []json.RawMessage `json:"result"`
				Warning            *string           `json:"partial_failure_warning"`
				Warnings           []json.RawMessage `json:"warnings"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return refStateList{}, fmt.Errorf("%s: %w", what, err)
	}
	switch {
	case e.Result == nil:
		return refStateList{}, fmt.Errorf("%s: not a Ray dashboard answer (no result)", what)
	case !*e.Result:
		return refStateList{}, &StatusError{Method: what, Code: 200, Message: e.Msg}
	case e.Data == nil:
		return refStateList{}, fmt.Errorf("%s: no data", what)
	}
	d := e.Data
	if d.Result == nil || d.Result.Result == nil {
		return refStateList{}, fmt.Errorf("%s: no result list", what)
	}
	n := len(d.Result.Result)
	l := refStateList{Rows: d.Result.Result, StateListing: StateListing{Returned: n, Total: n, NumAfterTruncation: n, NumFiltered: n}}
	if t := d.Result.Total; t != nil && *t > l.Total {
		l.Total = *t
	}
	l.NumAfterTruncation = l.Total
	if v := d.Result.NumAfterTruncation; v != nil && *v >= 0 {
		l.NumAfterTruncation = *v
	}
	if v := d.Result.NumFiltered; v != nil && *v > n {
		l.NumFiltered = *v
	}
	var warns []string
	if d.Result.Warning != nil && *d.Result.Warning != "" {
		warns = append(warns, clip(*d.Result.Warning))
	}
	for _, w := range d.Result.Warnings {
		var s string
		if json.Unmarshal(w, &s) == nil && s != "" {
			warns = append(warns, clip(s))
		}
	}
	l.Warning = strings.Join(warns, "; ")
	return l, nil
}

func refParseStateNodes(body []byte) ([]Node, refStateList, error) {
	l, err := refParseStateList("api/v0/nodes", body)
	if err != nil {
		return nil, l, err
	}
	nodes := make([]Node, 0, len(l.Rows))
	for _, raw := range l.Rows {
		var r struct {
			NodeID       string          `json:"node_id"`
			NodeIP       string          `json:"node_ip"`
			IsHead       bool            `json:"is_head_node"`
			State        string          `json:"state"`
			StateMessage *string         `json:"state_message"`
			NodeName     string          `json:"node_name"`
			Resources    json.RawMessage `json:"resources_total"`
			Labels       json.RawMessage `json:"labels"`
			Start        json.RawMessage `json:"start_time_ms"`
			End          json.RawMessage `json:"end_time_ms"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, l, fmt.Errorf("api/v0/nodes: node row: %w", err)
		}
		id := cleanHexID(r.NodeID)
		if id == "" || !validState(r.State) {
			return nil, l, fmt.Errorf("api/v0/nodes: node row without a node id or state (%q, %q)", clip(r.NodeID), clip(r.State))
		}
		n := Node{
			NodeID: id, Address: cleanIP(r.NodeIP), IsHead: r.IsHead, State: r.State,
			NodeName: clip(r.NodeName), ResourcesTotal: numberMap(r.Resources), Labels: stringMap(r.Labels),
			StartTimeMs: millis(r.Start), EndTimeMs: millis(r.End),
		}
		if r.StateMessage != nil {
			n.StateReason = clip(*r.StateMessage)
		}
		nodes = append(nodes, n)
	}
	return nodes, l, nil
}

// refParseStateActors reads GET /api/v0/actors?detail=true. Rows: actor_id,
// class_name, state, job_id, name, node_id, pid, ray_namespace and, with
// detail, required_resources and address{ip_address, port, ...}.
func refParseStateActors(body []byte) ([]Actor, refStateList, error) {
	l, err := refParseStateList("api/v0/actors", body)
	if err != nil {
		return nil, l, err
	}
	actors := make([]Actor, 0, len(l.Rows))
	for _, raw := range l.Rows {
		var r struct {
			ActorID   string          `json:"actor_id"`
			ClassName string          `json:"class_name"`
			State     string          `json:"state"`
			JobID     string          `json:"job_id"`
			Name      string          `json:"name"`
			NodeID    *string         `json:"node_id"`
			PID       json.RawMessage `json:"pid"`
			Namespace string          `json:"ray_namespace"`
			Required  json.RawMessage `json:"required_resources"`
			Address   *struct {
				IP   string          `json:"ip_address"`
				Port json.RawMessage `json:"port"`
			} `json:"address"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, l, fmt.Errorf("api/v0/actors: actor row: %w", err)
		}
		id := cleanHexID(r.ActorID)
		if id == "" || !actorStates[r.State] {
			return nil, l, fmt.Errorf("api/v0/actors: actor row without an actor id or state (%q, %q)", clip(r.ActorID), clip(r.State))
		}
		a := Actor{
			ActorID: id, ClassName: clip(r.ClassName), Name: clip(r.Name), Namespace: clip(r.Namespace),
			State: r.State, JobID: cleanHexID(r.JobID), RequiredResources: numberMap(r.Required),
		}
		if r.NodeID != nil {
			a.NodeID = cleanHexID(*r.NodeID)
		}
		if p := millis(r.PID); p > 0 && p <= math.MaxUint32 {
			a.PID = uint32(p)
		}
		if r.Address != nil {
			if ip, port := cleanIP(r.Address.IP), millis(r.Address.Port); ip != "" && port > 0 && port <= 65535 {
				a.Address = net.JoinHostPort(ip, strconv.FormatUint(port, 10))
			}
		}
		actors = append(actors, a)
	}
	return actors, l, nil
}
