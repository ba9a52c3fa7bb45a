package sessions

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseRayCurrentCluster(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{string(mustRead(t, filepath.Join(liveDir, "ray_current_cluster"))), liveGCS, true},
		{string(mustRead(t, filepath.Join(explicitDir, "ray_current_cluster"))), explicitGCS, true},
		{"127.0.0.1:6379\r\n", "127.0.0.1:6379", true},
		{"\xef\xbb\xbf10.0.0.5:6379", "10.0.0.5:6379", true},
		{"[fd00::2]:6379", "[fd00::2]:6379", true},
		{"head-node.example:6379", "head-node.example:6379", true},
		{"", "", false},
		{"127.0.0.1", "", false},
		{"127.0.0.1:0", "", false},
		{"127.0.0.1:65536", "", false},
		{"ray://127.0.0.1:10001", "", false},
		{"http://127.0.0.1:8265", "", false},
		{"127.0.0.1:6379 127.0.0.1:6380", "", false},
		{"127.0.0.1:+80", "", false},
	} {
		got, err := parseRayCurrentCluster([]byte(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseRayCurrentCluster(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestPortFiles(t *testing.T) {
	// The live capture's gcs_server_port_<node id>: the bare port, no newline.
	name := "gcs_server_port_" + liveHeadNode
	b := mustRead(t, filepath.Join(liveDir, liveSession, name))
	if p, err := parsePortFile(b); err != nil || p != 40743 {
		t.Fatalf("parsePortFile(%q) = %d, %v", b, p, err)
	}
	if port, node, ok := splitPortFileName(name); !ok || port != "gcs_server_port" || node != liveHeadNode {
		t.Fatalf("splitPortFileName(%q) = %q %q %v", name, port, node, ok)
	}
	for _, bad := range []string{"gcs_server_port", "gcs_server_port_abc", "foo_port_" + liveHeadNode,
		"gcs_server_port_" + strings.ToUpper(liveHeadNode), "ports_by_node.json"} {
		if _, _, ok := splitPortFileName(bad); ok {
			t.Errorf("splitPortFileName(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"", "abc", "0", "-1", "70000", "1 2"} {
		if _, err := parsePortFile([]byte(bad)); err == nil {
			t.Errorf("parsePortFile(%q) accepted", bad)
		}
	}
	if p, err := parsePortFile([]byte("6379\n")); err != nil || p != 6379 {
		t.Errorf("parsePortFile with newline = %d, %v", p, err)
	}
}

func TestParsePortsByNode(t *testing.T) {
	// Windows, Ray 2.48: the plasma store "socket" is a tcp:// address.
	nps, err := parsePortsByNode(mustRead(t, filepath.Join(winDir, winSession, "ports_by_node.json")))
	if err != nil || len(nps) != 1 {
		t.Fatalf("windows ports_by_node.json: %v %v", nps, err)
	}
	np := nps[0]
	if np.NodeIP != "127.0.0.1" || np.Ports["gcs_server_port"] != 65416 || np.Ports["dashboard_agent_listen_port"] != 52365 ||
		np.Ports["metrics_agent_port"] != 64412 || np.Ports["metrics_export_port"] != 63566 || np.Ports["runtime_env_agent_port"] != 64325 {
		t.Fatalf("windows entry = %+v", np)
	}
	// Linux keys (as ray-facts describes them), IPv6, junk values and unknown names.
	in := `{"10.0.0.1:/tmp/ray/session_x/sockets/plasma_store": {"gcs_server_port": 6379, "metrics_agent_port": "x", "bogus_port": 5},
	        "fd00::2:/tmp/ray/session_x/sockets/plasma_store.1": {"metrics_export_port": 8080, "runtime_env_agent_port": 0},
	        "10.0.0.9:C:\\Users\\me\\ray\\plasma": {"metrics_export_port": 1.5},
	        "garbage": {}}`
	nps, err = parsePortsByNode([]byte(in))
	if err != nil || len(nps) != 4 {
		t.Fatalf("parsePortsByNode: %v %v", nps, err)
	}
	got := map[string]nodePorts{}
	for _, np := range nps {
		got[np.Key] = np
	}
	if e := got["10.0.0.1:/tmp/ray/session_x/sockets/plasma_store"]; e.NodeIP != "10.0.0.1" || len(e.Ports) != 1 || e.Ports["gcs_server_port"] != 6379 {
		t.Errorf("linux entry = %+v", e)
	}
	if e := got["fd00::2:/tmp/ray/session_x/sockets/plasma_store.1"]; e.NodeIP != "fd00::2" || len(e.Ports) != 1 {
		t.Errorf("ipv6 entry = %+v", e)
	}
	if e := got[`10.0.0.9:C:\Users\me\ray\plasma`]; e.NodeIP != "10.0.0.9" || len(e.Ports) != 0 {
		t.Errorf("windows path entry = %+v", e)
	}
	if e := got["garbage"]; e.NodeIP != "" {
		t.Errorf("garbage entry = %+v", e)
	}
	for _, bad := range []string{"", "{", "[]", `{"a": 1}`, "null x"} {
		if _, err := parsePortsByNode([]byte(bad)); err == nil {
			t.Errorf("parsePortsByNode(%q) accepted", bad)
		}
	}
}

func TestParseNodeIPAddress(t *testing.T) {
	ip, err := parseNodeIPAddress(mustRead(t, filepath.Join(winDir, winSession, "node_ip_address.json")))
	if err != nil || ip != "127.0.0.1" {
		t.Fatalf("windows node_ip_address.json = %q, %v", ip, err)
	}
	for _, bad := range []string{"", "{}", "[]", `{"node_ip_address": 5}`, `{"node_ip_address": ""}`, `{"node_ip_address": "a b"}`, "{not json"} {
		if _, err := parseNodeIPAddress([]byte(bad)); err == nil {
			t.Errorf("parseNodeIPAddress(%q) accepted", bad)
		}
	}
}

func TestParseGCSLog(t *testing.T) {
	live := parseGCSLog(mustRead(t, filepath.Join(liveDir, liveSession, "logs", "gcs_server.out")))
	want := gcsLog{Port: 40743, RayVersion: "2.60.0", ClusterID: liveCluster, HeadNodeID: liveHeadNode, HeadAddress: "192.0.2.2"}
	if live != want {
		t.Errorf("live 2.60 gcs_server.out = %+v, want %+v", live, want)
	}
	// The raycluster capture's 60-line head: no node registered yet.
	head := parseGCSLog(mustRead(t, filepath.Join(explicitDir, explicitSession, "logs", "gcs_server.out")))
	if head.Port != 40519 || head.ClusterID != explicitCluster || head.RayVersion != "2.60.0" || head.HeadAddress != "" {
		t.Errorf("explicit 2.60 gcs_server.out head = %+v", head)
	}
	win := mustRead(t, filepath.Join(winDir, winSession, "logs", "gcs_server.out"))
	wantWin := gcsLog{Port: 65416, RayVersion: "2.48.0", ClusterID: winCluster, HeadAddress: "127.0.0.1", Windows: true}
	if got := parseGCSLog(win); got != wantWin {
		t.Errorf("windows 2.48 gcs_server.out = %+v, want %+v", got, wantWin)
	}
	// The same log with CRLF line endings, as a Windows editor or copy may leave it.
	if got := parseGCSLog(bytes.ReplaceAll(win, []byte("\n"), []byte("\r\n"))); got != wantWin {
		t.Errorf("windows gcs_server.out with CRLF = %+v", got)
	}
	// A cut-off head (bounded read) keeps what it has.
	if got := parseGCSLog(win[:1500]); got.Port != 0 || got.RayVersion != "2.48.0" {
		t.Errorf("truncated = %+v", got)
	}
}

func TestParseDashboardLog(t *testing.T) {
	if got := parseDashboardLog(mustRead(t, filepath.Join(liveDir, liveSession, "logs", "dashboard.log"))); got.Address != "127.0.0.1:33781" || got.Disabled {
		t.Errorf("live dashboard.log = %+v", got)
	}
	if got := parseDashboardLog(mustRead(t, filepath.Join(explicitDir, explicitSession, "logs", "dashboard.log"))); got.Address == "" {
		t.Errorf("explicit dashboard.log = %+v", got)
	}
	if got := parseDashboardLog(mustRead(t, filepath.Join(winDir, winSession, "logs", "dashboard.log"))); got.Address != "" || !got.Disabled {
		t.Errorf("windows dashboard.log = %+v", got)
	}
	old := "2024-01-01 00:00:00,000\tINFO head.py:200 -- http server initialized at 0.0.0.0:8265\r\n"
	if got := parseDashboardLog([]byte(old)); got.Address != "0.0.0.0:8265" {
		t.Errorf("older dashboard.log = %+v", got)
	}
}

func TestParseClientServerLog(t *testing.T) {
	got := parseClientServerLog(mustRead(t, filepath.Join(liveDir, liveSession, "logs", "ray_client_server.err")))
	if got.Address != "192.0.2.2:43921" || got.GCSAddress != liveGCS {
		t.Errorf("live ray_client_server.err = %+v", got)
	}
	if got := parseClientServerLog(mustRead(t, filepath.Join(liveDir, liveSession, "logs", "ray_client_server.out"))); got != (clientServerLog{}) {
		t.Errorf("empty ray_client_server.out = %+v", got)
	}
}

func TestParseRayletLog(t *testing.T) {
	got := parseRayletLog(mustRead(t, filepath.Join(liveDir, liveSession, "logs", "raylet.out")))
	if got.NodeIP != "192.0.2.2" || got.NodeID != liveHeadNode || got.ClusterID != liveCluster {
		t.Errorf("live raylet.out = %+v", got)
	}
	got = parseRayletLog(mustRead(t, filepath.Join(winDir, winSession, "logs", "raylet.out")))
	if got.NodeIP != "127.0.0.1" || got.ClusterID != winCluster {
		t.Errorf("windows raylet.out = %+v", got)
	}
}

func TestParseSessionName(t *testing.T) {
	ts, pid, ok := parseSessionName(liveSession)
	want := time.Date(2026, 11, 25, 20, 26, 17, 136359000, time.Local)
	if !ok || pid != 24861 || !ts.Equal(want) {
		t.Errorf("parseSessionName(%s) = %v %d %v", liveSession, ts, pid, ok)
	}
	for _, bad := range []string{"session_latest", "session_", "session_2026-11-25_20-26-17_136359", "session_x_y_z_w",
		"session_2026-13-25_20-26-17_136359_1", "session_2026-11-25_20-26-17_13635_1", "session_2026-11-25_20-26-17_136359_-1",
		"sess_2026-11-25_20-26-17_136359_1"} {
		if _, _, ok := parseSessionName(bad); ok {
			t.Errorf("parseSessionName(%q) accepted", bad)
		}
	}
}
