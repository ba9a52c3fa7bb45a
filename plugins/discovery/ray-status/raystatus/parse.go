package raystatus

import (
	"errors"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Layouts of the Resources part of `ray status`. The section names changed
// between Ray releases, independently of the autoscaler version: Ray 2.60's v1
// and v2 formatters print the same headings. Each layout is named after its
// headings; the versions are those the captures in testdata/ came from.
const (
	// LayoutHealthy: "Healthy:" instead of "Active:" (Ray 1.x).
	LayoutHealthy = "healthy"
	// LayoutUsage: "Usage:" / "Demands:" (seen in Ray 2.9.3 and 2.40.0).
	LayoutUsage = "usage"
	// LayoutTotal: "Total Usage:" / "Total Constraints:" / "Total Demands:"
	// (Ray 2.49.2; older Rays print "Total Usage:" / "Total Demands:" with -v).
	LayoutTotal = "total"
	// LayoutPendingDemands: "Total Usage:" / "From request_resources:" /
	// "Pending Demands:" (Ray 2.60.0).
	LayoutPendingDemands = "pending-demands"
)

// ErrNotStatus is returned by Parse for text that is not `ray status` output.
var ErrNotStatus = errors.New("not `ray status` output")

// Status is what one `ray status` text says about a cluster.
type Status struct {
	// Time is the autoscaler's timestamp from the header line, as printed
	// ("2026-11-25 20:07:35.326707", local time of the CLI's machine).
	Time string
	// Layout is one of the Layout constants; "" when the text had no
	// Resources part.
	Layout string
	// Sections lists the section headings in the order they appeared.
	Sections []string
	// IdleSection is true when the text has an "Idle:" section: the v2
	// autoscaler always prints it; the v1 autoscaler omits it for clusters
	// made by `ray start` (its "legacy" provider).
	IdleSection bool
	// Active and Idle are the node lines of those sections ("Healthy:" counts
	// as Active).
	Active, Idle []NodeGroup
	// Pending and Failures are the raw lines of those sections, without the
	// "(no pending nodes)" style placeholders.
	Pending, Failures []string
	// PendingNodes is the number of nodes being launched or set up, as far as
	// the Pending lines say (" <type>, N launching" counts N, any other line 1).
	PendingNodes int
	// Resources are the cluster-wide usage lines in order. Memory is in
	// bytes; note that `ray status` rounds it to two decimals of its unit.
	Resources []Resource
	// Constraints are request_resources() lines; Demands are pending task,
	// actor and placement group lines.
	Constraints, Demands []string
	// NoStatus is true when the GCS answered but the autoscaler has not
	// published a status yet ("No cluster status. It may take a few
	// seconds...").
	NoStatus bool
	// Extra holds top-level lines that belong to no known section (e.g. an
	// autoscaler error appended to the status).
	Extra []string
}

// NodeGroup is one node line: " 1 node_<hex id>" or " 2 worker-type".
type NodeGroup struct {
	Count int
	Type  string
	// NodeID is the hex id when Type is "node_<hex>" (how Ray names nodes
	// that have no node type, e.g. every node of a `ray start` cluster).
	NodeID string
}

// Resource is one usage line, e.g. " 0.0/8.0 CPU" or " 0B/3.39TiB memory".
type Resource struct {
	Name        string
	Used, Total float64
}

// NodeCount is the number of alive nodes: active plus idle.
func (s *Status) NodeCount() int {
	n := 0
	for _, g := range s.Active {
		n += g.Count
	}
	for _, g := range s.Idle {
		n += g.Count
	}
	return n
}

// NodeIDs lists the node ids named in the Active and Idle sections.
func (s *Status) NodeIDs() []string {
	var ids []string
	for _, g := range append(append([]NodeGroup(nil), s.Active...), s.Idle...) {
		if g.NodeID != "" {
			ids = append(ids, g.NodeID)
		}
	}
	return ids
}

// Totals and Used return the resources as maps (memory in bytes).
func (s *Status) Totals() map[string]float64 { return s.resourceMap(false) }

// Used returns the used amount of every resource.
func (s *Status) Used() map[string]float64 { return s.resourceMap(true) }

func (s *Status) resourceMap(used bool) map[string]float64 {
	if len(s.Resources) == 0 {
		return nil
	}
	m := make(map[string]float64, len(s.Resources))
	for _, r := range s.Resources {
		if used {
			m[r.Name] = r.Used
		} else {
			m[r.Name] = r.Total
		}
	}
	return m
}

type section int

const (
	secNone section = iota
	secActive
	secIdle
	secPending
	secFailures
	secUsage
	secConstraints
	secDemands
	secNodeDetail // the per-node breakdown of `ray status -v`
)

// headings maps every top-level heading Ray has printed to its section.
var headings = map[string]section{
	"Healthy:":                secActive,
	"Active:":                 secActive,
	"Idle:":                   secIdle,
	"Pending:":                secPending,
	"Recent failures:":        secFailures,
	"Usage:":                  secUsage,
	"Total Usage:":            secUsage,
	"Total Constraints:":      secConstraints,
	"From request_resources:": secConstraints,
	"Demands:":                secDemands,
	"Total Demands:":          secDemands,
	"Pending Demands:":        secDemands,
}

// verboseHeader are the timing lines `ray status -v` adds under the header.
var verboseHeader = []string{"GCS request time:", "Node Provider non_terminated_nodes time:", "Autoscaler iteration time:"}

var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]`)

// cleanText removes ANSI escapes and carriage returns.
func cleanText(s string) string {
	s = ansiRE.ReplaceAllString(s, "")
	return strings.ReplaceAll(s, "\r", "")
}

// Parse reads the text `ray status` prints on stdout. It accepts every
// layout listed above and the per-node breakdown of `ray status -v` (which it
// skips: the cluster-wide lines already carry the totals).
func Parse(text string) (*Status, error) {
	text = cleanText(text)
	st := &Status{}
	recognised := false
	sec := secNone
	for _, raw := range strings.Split(text, "\n") {
		line := strings.TrimRight(raw, " \t")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" {
			continue
		}
		indented := line[0] == ' ' || line[0] == '\t'
		if !indented {
			switch {
			case strings.HasPrefix(line, "=") && strings.Contains(line, "Autoscaler status:"):
				recognised = true
				t := line[strings.Index(line, "Autoscaler status:")+len("Autoscaler status:"):]
				st.Time = strings.TrimSpace(strings.Trim(strings.TrimSpace(t), "="))
				sec = secNone
				continue
			case line == "Node status" || line == "Resources":
				recognised = true
				sec = secNone
				continue
			case strings.Trim(line, "-") == "":
				continue
			case strings.HasPrefix(line, "No cluster status"):
				recognised = true
				st.NoStatus = true
				sec = secNone
				continue
			case strings.HasPrefix(line, "Node: "):
				sec = secNodeDetail
				continue
			}
			if s, ok := headings[line]; ok {
				recognised = true
				sec = s
				st.Sections = append(st.Sections, strings.TrimSuffix(line, ":"))
				st.noteHeading(line)
				continue
			}
			if hasAnyPrefix(line, verboseHeader) {
				continue
			}
			st.Extra = append(st.Extra, trimmed)
			sec = secNone
			continue
		}
		if isPlaceholder(trimmed) {
			continue
		}
		switch sec {
		case secActive:
			if g, ok := parseNodeGroup(trimmed); ok {
				st.Active = append(st.Active, g)
			}
		case secIdle:
			if g, ok := parseNodeGroup(trimmed); ok {
				st.Idle = append(st.Idle, g)
			}
		case secPending:
			st.Pending = append(st.Pending, trimmed)
			st.PendingNodes += pendingCount(trimmed)
		case secFailures:
			st.Failures = append(st.Failures, trimmed)
		case secUsage:
			if r, ok := parseResource(trimmed); ok {
				st.Resources = append(st.Resources, r)
			}
		case secConstraints:
			st.Constraints = append(st.Constraints, trimmed)
		case secDemands:
			st.Demands = append(st.Demands, trimmed)
		}
	}
	if !recognised {
		return nil, ErrNotStatus
	}
	return st, nil
}

// noteHeading records what a heading says about the layout.
func (st *Status) noteHeading(h string) {
	switch h {
	case "Healthy:":
		st.Layout = LayoutHealthy
	case "Idle:":
		st.IdleSection = true
	case "Usage:":
		if st.Layout == "" {
			st.Layout = LayoutUsage
		}
	case "Total Usage:":
		if st.Layout == "" || st.Layout == LayoutUsage {
			st.Layout = LayoutTotal
		}
	case "From request_resources:", "Pending Demands:":
		if st.Layout != LayoutHealthy {
			st.Layout = LayoutPendingDemands
		}
	}
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// isPlaceholder spots "(no pending nodes)", "(none)", "(no failures)", ...
func isPlaceholder(s string) bool {
	return strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")")
}

// parseNodeGroup reads "<count> <node type>".
func parseNodeGroup(s string) (NodeGroup, bool) {
	countStr, typ, ok := strings.Cut(s, " ")
	if !ok {
		return NodeGroup{}, false
	}
	n, err := strconv.Atoi(countStr)
	typ = strings.TrimSpace(typ)
	if err != nil || n <= 0 || typ == "" {
		return NodeGroup{}, false
	}
	g := NodeGroup{Count: n, Type: typ}
	if id, ok := strings.CutPrefix(typ, "node_"); ok && isHexID(id) {
		g.NodeID = strings.ToLower(id)
	}
	return g, true
}

// isHexID accepts Ray node ids: 56 hex digits today (28 bytes), 40 in Ray 1.x.
func isHexID(s string) bool {
	if len(s) < 32 || len(s)%2 != 0 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// pendingCount reads " <type>, N launching" (N nodes); any other pending
// line (" <ip>: <type>, <status>") is one node.
func pendingCount(s string) int {
	if rest, ok := strings.CutSuffix(s, " launching"); ok {
		if i := strings.LastIndex(rest, ", "); i >= 0 {
			if n, err := strconv.Atoi(rest[i+2:]); err == nil && n > 0 {
				return n
			}
		}
	}
	return 1
}

// memUnits are the suffixes of Ray's format_memory (binary units), plus the
// decimal ones for robustness.
var memUnits = map[string]float64{
	"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40, "PiB": 1 << 50,
	"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
}

// parseResource reads "<used>/<total> <name>", where used and total may carry
// a memory unit ("0B/3.39TiB memory") or share a separate one
// ("0.00/14.669 GiB memory", Ray 1.x). Anything after the name (e.g. "(1.0
// used of 2.0 reserved in placement groups)") is ignored.
func parseResource(s string) (Resource, bool) {
	f := strings.Fields(s)
	if len(f) < 2 {
		return Resource{}, false
	}
	usedStr, totalStr, ok := strings.Cut(f[0], "/")
	if !ok {
		return Resource{}, false
	}
	name := f[1]
	shared := 1.0
	if m, ok := memUnits[f[1]]; ok && len(f) >= 3 {
		shared, name = m, f[2]
	}
	used, ok1 := parseQuantity(usedStr)
	total, ok2 := parseQuantity(totalStr)
	if !ok1 || !ok2 || name == "" {
		return Resource{}, false
	}
	return Resource{Name: name, Used: used * shared, Total: total * shared}, true
}

// parseQuantity reads a number with an optional memory unit suffix.
func parseQuantity(s string) (float64, bool) {
	mult := 1.0
	num := s
	// Longest suffix first, so "GiB" is not read as "B".
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB", "PiB", "KB", "MB", "GB", "TB", "B"} {
		if rest, ok := strings.CutSuffix(s, u); ok {
			num, mult = rest, memUnits[u]
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, false
	}
	return v * mult, true
}
