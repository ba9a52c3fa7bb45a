package sessions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The parsers below take the bytes of one (bounded) file and never panic; each has a fuzz
// test seeded with real captures. They return only what the input says: a value that does
// not validate is dropped, not repaired.

// cachedPortNames are the ports Ray caches per node (RAY_ALLOWED_CACHED_PORTS), both in
// ports_by_node.json (older Ray) and as <name>_<node id> files (Ray 2.60).
var cachedPortNames = []string{
	"gcs_server_port", "dashboard_agent_listen_port", "metrics_agent_port",
	"metrics_export_port", "runtime_env_agent_port",
}

func isCachedPortName(s string) bool {
	for _, n := range cachedPortNames {
		if s == n {
			return true
		}
	}
	return false
}

// splitHostPort validates "host:port": a non-empty host made of hostname or IP characters
// (IPv6 in brackets), and a port in 1..65535.
func splitHostPort(s string) (host string, port int, ok bool) {
	h, p, err := net.SplitHostPort(s)
	if err != nil || !validHost(h) {
		return "", 0, false
	}
	n, ok := parsePort(p)
	if !ok {
		return "", 0, false
	}
	return h, n, true
}

// validHost accepts an IP address or a DNS-style host name.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
		default:
			return false
		}
	}
	return true
}

// parsePort accepts a decimal port in 1..65535 (no sign, no spaces).
func parsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, false
	}
	return n, true
}

// trimBOM drops a UTF-8 byte order mark (Windows editors add one).
func trimBOM(b []byte) []byte { return bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) }

// parseRayCurrentCluster reads ray_current_cluster: the bare GCS address "ip:port", written
// without a newline by Ray's write_ray_address. Surrounding white space (a hand-edited file,
// CRLF) is tolerated; a scheme or anything else is not.
func parseRayCurrentCluster(b []byte) (string, error) {
	s := strings.TrimSpace(string(trimBOM(b)))
	if s == "" {
		return "", errors.New("empty")
	}
	host, port, ok := splitHostPort(s)
	if !ok {
		return "", fmt.Errorf("not a bare host:port: %q", clip(s, 80))
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// parsePortFile reads one Ray 2.60 port file (<name>_<node id hex>): the bare port number.
func parsePortFile(b []byte) (int, error) {
	s := strings.TrimSpace(string(trimBOM(b)))
	n, ok := parsePort(s)
	if !ok {
		return 0, fmt.Errorf("not a port number: %q", clip(s, 40))
	}
	return n, nil
}

// splitPortFileName splits a Ray 2.60 port file name "gcs_server_port_<56 hex>" into the
// port name and the node id.
func splitPortFileName(name string) (port, nodeID string, ok bool) {
	i := strings.LastIndexByte(name, '_')
	if i < 0 {
		return "", "", false
	}
	port, nodeID = name[:i], name[i+1:]
	if !isCachedPortName(port) || !isNodeID(nodeID) {
		return "", "", false
	}
	return port, nodeID, true
}

// isNodeID says whether s is a 28-byte Ray id in lower-case hex (node and cluster ids).
func isNodeID(s string) bool {
	if len(s) != 56 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// parseNodeIPAddress reads node_ip_address.json (older Ray): {"node_ip_address": "<ip>"}.
func parseNodeIPAddress(b []byte) (string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(trimBOM(b), &obj); err != nil {
		return "", fmt.Errorf("not a JSON object: %w", err)
	}
	raw, ok := obj["node_ip_address"]
	if !ok {
		return "", errors.New(`no "node_ip_address" key`)
	}
	var ip string
	if err := json.Unmarshal(raw, &ip); err != nil || !validHost(ip) {
		return "", fmt.Errorf("invalid node_ip_address %s", clip(string(raw), 80))
	}
	return ip, nil
}

// nodePorts is one entry of ports_by_node.json.
type nodePorts struct {
	Key    string         // the raw key, "<node ip>:<plasma store socket>"
	NodeIP string         // "" when the key does not start with a valid address
	Ports  map[string]int // only valid ports (1..65535) of known names
}

// parsePortsByNode reads ports_by_node.json (older Ray): a map from "<node ip>:<plasma
// store socket path>" to {port name: port}. The socket part is a unix path, or on Windows a
// "tcp://ip:port" address; the node IP may be IPv6. Entries are returned sorted by key.
func parsePortsByNode(b []byte) ([]nodePorts, error) {
	var raw map[string]map[string]json.RawMessage
	if err := json.Unmarshal(trimBOM(b), &raw); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]nodePorts, 0, len(keys))
	for _, k := range keys {
		np := nodePorts{Key: k, NodeIP: portsKeyIP(k), Ports: map[string]int{}}
		for name, v := range raw[k] {
			if !isCachedPortName(name) {
				continue
			}
			var n json.Number
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.UseNumber()
			if dec.Decode(&n) != nil {
				continue
			}
			if p, ok := parsePort(n.String()); ok {
				np.Ports[name] = p
			}
		}
		out = append(out, np)
	}
	return out, nil
}

// portsKeyIP extracts the node IP from a ports_by_node.json key "<ip>:<socket>".
func portsKeyIP(key string) string {
	var ip string
	switch {
	case strings.Contains(key, ":tcp://"):
		ip = key[:strings.Index(key, ":tcp://")]
	case strings.Contains(key, ":/"):
		ip = key[:strings.Index(key, ":/")]
	default:
		// A Windows path: "<ip>:C:\...".
		if m := winPathKey.FindStringSubmatch(key); m != nil {
			ip = m[1]
		}
	}
	if net.ParseIP(ip) == nil {
		return ""
	}
	return ip
}

var winPathKey = regexp.MustCompile(`^(.+?):[A-Za-z]:[\\/]`)

// eachLine calls f for every line of b, without its line ending (LF or CRLF).
func eachLine(b []byte, f func(line string) bool) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		var line []byte
		if i < 0 {
			line, b = b, nil
		} else {
			line, b = b[:i], b[i+1:]
		}
		if !f(string(bytes.TrimSuffix(line, []byte("\r")))) {
			return
		}
	}
}

// gcsLog is what the head of logs/gcs_server.out says.
type gcsLog struct {
	Port        int    // "GcsServer server started, listening on port N."
	RayVersion  string // "Ray cluster metadata ray_version=2.60.0 ..."
	ClusterID   string // hex
	HeadNodeID  string // 2.60: "GCS node ID initialized from config node_id=…"
	HeadAddress string // the head node's address as the GCS registered it
	Windows     bool   // the component tag is "(gcs_server.exe)"
}

var (
	reGCSPort      = regexp.MustCompile(`GcsServer server started, listening on port (\d{1,5})\b`)
	reRayVersion   = regexp.MustCompile(`Ray cluster metadata ray_version=([0-9A-Za-z.+-]{1,40})`)
	reClusterID    = regexp.MustCompile(`(?:cluster_id=|Generating new ID: |Setting cluster ID to: )([0-9a-f]{56})\b`)
	reGCSNodeID    = regexp.MustCompile(`GCS node ID initialized from config node_id=([0-9a-f]{56})\b`)
	reRegisterNode = regexp.MustCompile(`Registering new node\. node_id=([0-9a-f]{56}) .*\bnode_address=(\S+)`)
	reRegisterHead = regexp.MustCompile(`Finished registering node info, address = ([^,\s]+),.*\bis_head_node = 1\b`)
)

// parseGCSLog reads the head of gcs_server.out. Ray 2.60.0 prints (seen live):
//
//	… (gcs_server) gcs_server_main.cc:98: Ray cluster metadata ray_version=2.60.0 ray_commit=…
//	… (gcs_server) gcs_server.cc:196: GCS node ID initialized from config node_id=<56 hex>
//	… (gcs_server) gcs_server.cc:381: Generated new cluster ID. cluster_id=<56 hex>
//	… (gcs_server) grpc_server.cc:144: GcsServer server started, listening on port 44517.
//	… (gcs_server) gcs_node_manager.cc:111: Registering new node. node_id=<hex> node_name=… node_address=192.0.2.2
//
// and Ray 2.48 on Windows "(gcs_server.exe) … No existing server cluster ID found.
// Generating new ID: <hex>" and "Finished registering node info, address = 127.0.0.1, node
// name = 127.0.0.1, is_head_node = 1 node_id=<hex>".
func parseGCSLog(b []byte) gcsLog {
	var g gcsLog
	regs := map[string]string{}
	eachLine(b, func(line string) bool {
		if !strings.Contains(line, "gcs_server") && !strings.Contains(line, "GcsServer") {
			// Every line the GCS logs carries its "(gcs_server)" tag; debug dumps do not
			// and are skipped cheaply.
			return true
		}
		if strings.Contains(line, "(gcs_server.exe)") {
			g.Windows = true
		}
		if g.Port == 0 {
			if m := reGCSPort.FindStringSubmatch(line); m != nil {
				g.Port, _ = parsePort(m[1])
			}
		}
		if g.RayVersion == "" {
			if m := reRayVersion.FindStringSubmatch(line); m != nil {
				g.RayVersion = m[1]
			}
		}
		if g.ClusterID == "" {
			if m := reClusterID.FindStringSubmatch(line); m != nil {
				g.ClusterID = m[1]
			}
		}
		if g.HeadNodeID == "" {
			if m := reGCSNodeID.FindStringSubmatch(line); m != nil {
				g.HeadNodeID = m[1]
			}
		}
		if m := reRegisterNode.FindStringSubmatch(line); m != nil && validHost(m[2]) {
			if _, seen := regs[m[1]]; !seen {
				regs[m[1]] = m[2]
			}
		}
		if g.HeadAddress == "" {
			if m := reRegisterHead.FindStringSubmatch(line); m != nil && validHost(m[1]) {
				g.HeadAddress = m[1]
			}
		}
		return true
	})
	if g.HeadAddress == "" && g.HeadNodeID != "" {
		g.HeadAddress = regs[g.HeadNodeID]
	}
	return g
}

// dashboardLog is what the head of logs/dashboard.log says.
type dashboardLog struct {
	Address  string // host:port of the dashboard's HTTP server
	Disabled bool   // "http server disabled." (minimal install, no aiohttp)
}

var (
	reDashAddr     = regexp.MustCompile(`Dashboard head http address: (\S+)`)
	reDashInitAddr = regexp.MustCompile(`http server initialized at (\S+)`)
)

// parseDashboardLog reads the head of dashboard.log. Ray 2.60.0 prints (seen live)
// "http_server_head.py:492 -- Dashboard head http address: 127.0.0.1:43303" and then
// "head.py:521 -- http server initialized at 127.0.0.1:43303"; older versions only the
// latter; a minimal install (Ray 2.48, Windows fixture) "head.py:441 -- http server
// disabled.".
func parseDashboardLog(b []byte) dashboardLog {
	var d dashboardLog
	eachLine(b, func(line string) bool {
		for _, re := range []*regexp.Regexp{reDashAddr, reDashInitAddr} {
			if m := re.FindStringSubmatch(line); m != nil {
				if h, p, ok := splitHostPort(strings.TrimRight(m[1], ".,")); ok {
					d.Address = net.JoinHostPort(h, strconv.Itoa(p))
					return false
				}
			}
		}
		if strings.Contains(line, "http server disabled") {
			d.Disabled = true
		}
		return true
	})
	if d.Address != "" {
		d.Disabled = false
	}
	return d
}

// clientServerLog is what the head of logs/ray_client_server.err says.
type clientServerLog struct {
	Address    string // host:port the Ray Client server listens on
	GCSAddress string // the GCS address it was given
}

var (
	reClientStart = regexp.MustCompile(`Starting Ray Client server on (\S+?),? args`)
	reClientGCS   = regexp.MustCompile(`\baddress='([^']+)'`)
)

// parseClientServerLog reads the head of ray_client_server.err (where Ray 2.60.0 writes it)
// or .out. Ray 2.60.0 prints (seen live) "server.py:913 -- Starting Ray Client server on 192.0.2.2:44569, args
// Namespace(host='192.0.2.2', port=44569, mode='proxy', address='192.0.2.2:44549', …)".
func parseClientServerLog(b []byte) clientServerLog {
	var c clientServerLog
	eachLine(b, func(line string) bool {
		m := reClientStart.FindStringSubmatch(line)
		if m == nil {
			return true
		}
		if h, p, ok := splitHostPort(m[1]); ok {
			c.Address = net.JoinHostPort(h, strconv.Itoa(p))
		}
		if g := reClientGCS.FindStringSubmatch(line); g != nil {
			if h, p, ok := splitHostPort(g[1]); ok {
				c.GCSAddress = net.JoinHostPort(h, strconv.Itoa(p))
			}
		}
		return false
	})
	return c
}

// rayletLog is what the head of logs/raylet.out says.
type rayletLog struct {
	NodeID    string
	NodeIP    string // the node manager's address
	ClusterID string
}

var reRayletStarted = regexp.MustCompile(`Raylet of id, ([0-9a-f]{56}) started\..*\bnode_manager address: (\S+)`)

// parseRayletLog reads the head of raylet.out: "main.cc:283: Setting cluster ID to: <hex>"
// and "Raylet of id, <hex> started. … node_manager address: 192.0.2.2:0 …" (2.60.0 and
// 2.48 alike).
func parseRayletLog(b []byte) rayletLog {
	var r rayletLog
	eachLine(b, func(line string) bool {
		if r.ClusterID == "" {
			if m := reClusterID.FindStringSubmatch(line); m != nil {
				r.ClusterID = m[1]
			}
		}
		if r.NodeID == "" {
			if m := reRayletStarted.FindStringSubmatch(line); m != nil {
				// node_manager address is "ip:port"; the port may be 0 in the log.
				if h, p, err := net.SplitHostPort(m[2]); err == nil && validHost(h) && p != "" {
					r.NodeID, r.NodeIP = m[1], h
				}
			}
		}
		return r.ClusterID == "" || r.NodeID == ""
	})
	return r
}

// parseSessionName parses "session_2026-11-25_20-07-29_481642_5176": the start time (local
// time of the machine that wrote it, as Ray formats it) and the pid of the process that
// created it.
func parseSessionName(name string) (t time.Time, pid int, ok bool) {
	rest, found := strings.CutPrefix(name, "session_")
	if !found {
		return time.Time{}, 0, false
	}
	parts := strings.Split(rest, "_")
	if len(parts) != 4 || len(parts[2]) != 6 {
		return time.Time{}, 0, false
	}
	t, err := time.ParseInLocation("2006-01-02_15-04-05", parts[0]+"_"+parts[1], time.Local)
	if err != nil {
		return time.Time{}, 0, false
	}
	us, err := strconv.Atoi(parts[2])
	if err != nil || us < 0 {
		return time.Time{}, 0, false
	}
	pid, err = strconv.Atoi(parts[3])
	if err != nil || pid <= 0 || strings.HasPrefix(parts[3], "+") {
		return time.Time{}, 0, false
	}
	return t.Add(time.Duration(us) * time.Microsecond), pid, true
}

// clip shortens s to n bytes for messages, keeping valid UTF-8.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
