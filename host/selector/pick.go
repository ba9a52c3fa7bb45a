package selector

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/castray/castray/host/registry"
)

// Pick rules.
const (
	// RuleLeastLoaded: fewest active transfers first, then most available
	// resources, then node id. The default.
	RuleLeastLoaded = "least-loaded"
	// RuleMostAvailable: most available resources first, then fewest
	// active transfers, then node id.
	RuleMostAvailable = "most-available"
)

// Rules lists the rules a Pick accepts.
var Rules = []string{RuleLeastLoaded, RuleMostAvailable}

// Pick asks for Count of the matching nodes, chosen by Rule ("" means
// RuleLeastLoaded).
type Pick struct {
	Count int    `json:"count"`
	Rule  string `json:"rule,omitempty"`
}

var pickKeys = []string{"count", "rule"}

// DecodePick reads a pick from a JSON object strictly; errors are
// *FieldError values naming "pick.count" or "pick.rule".
func DecodePick(raw []byte) (Pick, error) {
	obj, err := object("pick", raw, pickKeys)
	if err != nil {
		return Pick{}, err
	}
	var p Pick
	if v, ok := obj["count"]; !ok {
		return Pick{}, fieldErr("pick.count", "is required")
	} else if err := json.Unmarshal(v, &p.Count); err != nil {
		return Pick{}, fieldErr("pick.count", "must be a whole number")
	}
	if v, ok := obj["rule"]; ok {
		if err := json.Unmarshal(v, &p.Rule); err != nil {
			return Pick{}, fieldErr("pick.rule", "must be a string")
		}
	}
	if err := p.Validate(); err != nil {
		return Pick{}, err
	}
	return p, nil
}

// Validate checks the count (at least 1) and the rule.
func (p Pick) Validate() error {
	if p.Count < 1 {
		return fieldErr("pick.count", "must be at least 1, got %d", p.Count)
	}
	if p.Rule != "" && !slices.Contains(Rules, p.Rule) {
		return fieldErr("pick.rule", "%q is not a rule (one of %s)", p.Rule, strings.Join(Rules, ", "))
	}
	return nil
}

// rule is the effective rule.
func (p Pick) rule() string {
	if p.Rule == "" {
		return RuleLeastLoaded
	}
	return p.Rule
}

// Choice is one chosen node and why.
type Choice struct {
	NodeID string `json:"node_id"`
	// Rank is the node's place in the ranking, from 1.
	Rank int `json:"rank"`
	// ActiveTransfers is the count the caller reported for the node.
	ActiveTransfers int `json:"active_transfers"`
	// Available is the sum of the node's available ScoreResources.
	Available float64 `json:"available"`
	// ScoreResources are the resources Available adds up.
	ScoreResources []string `json:"score_resources"`
	// Reason says, for people, why the node was chosen.
	Reason string `json:"reason"`
}

// candidate is an eligible node with its ranking keys.
type candidate struct {
	node   registry.Node
	active int
	score  float64
}

// Choose picks pick.Count of the nodes that match sel and are active,
// ranked by pick's rule. active reports the number of transfers running to
// a node (nil counts none). The result, best first, depends only on the set
// of nodes, not on their order; node ids must be unique.
//
// Errors: an invalid selector or pick (*FieldError), a repeated node id,
// and, wrapping ErrNotEnough, fewer matching active nodes than the count.
func Choose(nodes []registry.Node, sel Selector, pick Pick, active func(nodeID string) int) ([]Choice, error) {
	if err := sel.Validate(); err != nil {
		return nil, err
	}
	if err := pick.Validate(); err != nil {
		return nil, err
	}
	if active == nil {
		active = func(string) int { return 0 }
	}
	keys := sel.ScoreResources()
	seen := make(map[string]bool, len(nodes))
	var cands []candidate
	matching := 0
	for _, n := range nodes {
		if seen[n.ID] {
			return nil, fmt.Errorf("choose nodes: node id %q is repeated", n.ID)
		}
		seen[n.ID] = true
		if !sel.Match(n) {
			continue
		}
		matching++
		if n.State != registry.StateActive {
			continue
		}
		c := candidate{node: n, active: active(n.ID)}
		for _, k := range keys { // sorted: the sum does not depend on map order
			c.score += n.Available[k]
		}
		cands = append(cands, c)
	}
	if len(cands) < pick.Count {
		return nil, fmt.Errorf("pick: count %d, but only %d of the %d nodes matching %s are active: %w",
			pick.Count, len(cands), matching, sel, ErrNotEnough)
	}
	rule := pick.rule()
	sort.Slice(cands, func(i, j int) bool { return less(rule, &cands[i], &cands[j]) })

	var next *candidate // the best node not chosen
	if pick.Count < len(cands) {
		next = &cands[pick.Count]
	}
	out := make([]Choice, pick.Count)
	for i := range out {
		c := &cands[i]
		out[i] = Choice{
			NodeID: c.node.ID, Rank: i + 1, ActiveTransfers: c.active, Available: c.score,
			ScoreResources: keys, Reason: reason(rule, c, next, keys, len(cands)),
		}
	}
	return out, nil
}

// less orders candidates best first under rule; ids break every tie, so
// the order is total.
func less(rule string, a, b *candidate) bool {
	if rule == RuleMostAvailable {
		if a.score != b.score {
			return a.score > b.score
		}
		if a.active != b.active {
			return a.active < b.active
		}
	} else {
		if a.active != b.active {
			return a.active < b.active
		}
		if a.score != b.score {
			return a.score > b.score
		}
	}
	return a.node.ID < b.node.ID
}

// reason explains why c was chosen, against next, the best node that was
// not (nil when every eligible node was chosen).
func reason(rule string, c, next *candidate, keys []string, eligible int) string {
	load, avail := transfers(c.active), describeAvail(c.node, keys)
	if next == nil {
		return fmt.Sprintf("%s; %s; every one of the %d matching active nodes was needed", load, avail, eligible)
	}
	other := next.node.ID + " (not chosen)"
	fewer := func() string {
		return fmt.Sprintf("%s, %d fewer than %s", load, next.active-c.active, other)
	}
	more := func() string {
		return fmt.Sprintf("%s, more than the %s available on %s", avail, num(next.score), other)
	}
	if rule == RuleMostAvailable {
		switch {
		case c.score > next.score:
			return more() + "; " + load
		case c.active < next.active:
			return fmt.Sprintf("%s, as much as %s; %s", avail, other, fewer())
		}
	} else {
		switch {
		case c.active < next.active:
			return fewer() + "; " + avail
		case c.score > next.score:
			return fmt.Sprintf("%s, as many as %s; %s", load, other, more())
		}
	}
	return fmt.Sprintf("%s and %s, the same as %s; ahead by node id", load, avail, other)
}

func transfers(n int) string {
	if n == 1 {
		return "1 active transfer"
	}
	return fmt.Sprintf("%d active transfers", n)
}

// describeAvail says "CPU available 3 of 4" for each resource of keys.
func describeAvail(n registry.Node, keys []string) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		if total, ok := n.Resources[k]; ok {
			parts[i] = fmt.Sprintf("%s available %s of %s", k, num(n.Available[k]), num(total))
		} else {
			parts[i] = fmt.Sprintf("%s available %s", k, num(n.Available[k]))
		}
	}
	return strings.Join(parts, ", ")
}
