package sessions

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every parser has a fuzz test seeded with the real captures: none may panic, and what
// each returns must validate.
//
//	go test -run '^$' -fuzz FuzzParseGCSLog -fuzztime 30s ./plugins/discovery/tmpdir/sessions/

func seedFiles(f *testing.F, paths ...string) {
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func checkHostPort(t *testing.T, what, s string) {
	if s == "" {
		return
	}
	if _, _, ok := splitHostPort(s); !ok {
		t.Fatalf("%s %q is not a valid host:port", what, s)
	}
}

func checkID(t *testing.T, what, s string) {
	if s != "" && !isNodeID(s) {
		t.Fatalf("%s %q is not a 56-hex id", what, s)
	}
}

func FuzzParseRayCurrentCluster(f *testing.F) {
	seedFiles(f, filepath.Join(liveDir, "ray_current_cluster"), filepath.Join(explicitDir, "ray_current_cluster"))
	for _, s := range []string{"", "127.0.0.1:6379\r\n", "[fd00::2]:6379", "ray://x:1", "a:0", ":80", "[::1]:65535"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		addr, err := parseRayCurrentCluster(b)
		if err != nil {
			return
		}
		checkHostPort(t, "address", addr)
		if again, err := parseRayCurrentCluster([]byte(addr)); err != nil || again != addr {
			t.Fatalf("%q does not re-parse: %q %v", addr, again, err)
		}
	})
}

func FuzzParsePortFile(f *testing.F) {
	seedFiles(f, filepath.Join(liveDir, liveSession, "gcs_server_port_"+liveHeadNode))
	for _, s := range []string{"", "0", "65535", "65536", " 80 ", "-1", "00080"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := parsePortFile(b); err == nil && (p < 1 || p > 65535) {
			t.Fatalf("port %d", p)
		}
	})
}

func FuzzSplitPortFileName(f *testing.F) {
	ents, _ := os.ReadDir(filepath.Join(liveDir, liveSession))
	for _, e := range ents {
		f.Add(e.Name())
	}
	f.Add("gcs_server_port_")
	f.Add("_")
	f.Fuzz(func(t *testing.T, name string) {
		port, node, ok := splitPortFileName(name)
		if ok && (!isCachedPortName(port) || !isNodeID(node) || port+"_"+node != name) {
			t.Fatalf("%q → %q %q", name, port, node)
		}
	})
}

func FuzzParsePortsByNode(f *testing.F) {
	seedFiles(f, filepath.Join(winDir, winSession, "ports_by_node.json"))
	f.Add([]byte(`{"fd00::2:/tmp/ray/s/sockets/plasma_store": {"gcs_server_port": 6379.0, "metrics_agent_port": 1e3}}`))
	f.Add([]byte(`{"10.0.0.9:C:\\x": {"gcs_server_port": -5}, "": null}`))
	f.Add([]byte(`{"a": {"gcs_server_port": 99999999999999999999999}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		nps, err := parsePortsByNode(b)
		if err != nil {
			return
		}
		for _, np := range nps {
			if np.NodeIP != "" && net.ParseIP(np.NodeIP) == nil {
				t.Fatalf("node ip %q", np.NodeIP)
			}
			for name, p := range np.Ports {
				if !isCachedPortName(name) || p < 1 || p > 65535 {
					t.Fatalf("port %s=%d", name, p)
				}
			}
		}
	})
}

func FuzzParseNodeIPAddress(f *testing.F) {
	seedFiles(f, filepath.Join(winDir, winSession, "node_ip_address.json"))
	for _, s := range []string{`{"node_ip_address": null}`, `{"node_ip_address": "fd00::2"}`, `[]`, `{}`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if ip, err := parseNodeIPAddress(b); err == nil && !validHost(ip) {
			t.Fatalf("ip %q", ip)
		}
	})
}

func FuzzParseGCSLog(f *testing.F) {
	seedFiles(f,
		filepath.Join(liveDir, liveSession, "logs", "gcs_server.out"),
		filepath.Join(explicitDir, explicitSession, "logs", "gcs_server.out"),
		filepath.Join(winDir, winSession, "logs", "gcs_server.out"))
	f.Add([]byte("(gcs_server) GcsServer server started, listening on port 99999.\n(gcs_server) cluster_id=" + strings.Repeat("a", 57)))
	// The lines that matter, alone: large seeds make the fuzzer slow.
	var small []string
	for _, line := range strings.Split(string(mustRead(f, filepath.Join(liveDir, liveSession, "logs", "gcs_server.out"))), "\n") {
		for _, key := range []string{"listening on port", "ray_version=", "cluster_id=", "node_id=", "node_address="} {
			if strings.Contains(line, key) {
				small = append(small, line)
				break
			}
		}
	}
	f.Add([]byte(strings.Join(small, "\n")))
	f.Add([]byte("[2025-08-28 14:59:49,393 I 77160 69272] (gcs_server.exe) gcs_node_manager.cc:97: Finished registering node info, address = 127.0.0.1, node name = 127.0.0.1, is_head_node = 1 node_id=5c0b3c063f200ec0e70e6c90ac54f017eaaa202329387a371b0d9053\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		g := parseGCSLog(b)
		if g.Port < 0 || g.Port > 65535 {
			t.Fatalf("port %d", g.Port)
		}
		checkID(t, "cluster id", g.ClusterID)
		checkID(t, "head node id", g.HeadNodeID)
		if g.HeadAddress != "" && !validHost(g.HeadAddress) {
			t.Fatalf("head address %q", g.HeadAddress)
		}
	})
}

func FuzzParseDashboardLog(f *testing.F) {
	seedFiles(f,
		filepath.Join(liveDir, liveSession, "logs", "dashboard.log"),
		filepath.Join(explicitDir, explicitSession, "logs", "dashboard.log"),
		filepath.Join(winDir, winSession, "logs", "dashboard.log"))
	f.Add([]byte("http server initialized at [::]:8265.\r\nDashboard head http address: :\n"))
	// The lines that matter, alone: large seeds make the fuzzer slow.
	f.Add([]byte("2026-11-25 20:26:19,919\tINFO http_server_head.py:492 -- Dashboard head http address: 127.0.0.1:33781\n"))
	f.Add([]byte("2025-08-28 14:59:49,059\tINFO head.py:441 -- http server disabled.\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := parseDashboardLog(b)
		checkHostPort(t, "dashboard", d.Address)
		if d.Address != "" && d.Disabled {
			t.Fatal("both an address and disabled")
		}
	})
}

func FuzzParseClientServerLog(f *testing.F) {
	seedFiles(f,
		filepath.Join(liveDir, liveSession, "logs", "ray_client_server.err"),
		filepath.Join(liveDir, liveSession, "logs", "ray_client_server.out"))
	f.Add([]byte("Starting Ray Client server on x, args address='"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := parseClientServerLog(b)
		checkHostPort(t, "client", c.Address)
		checkHostPort(t, "gcs", c.GCSAddress)
	})
}

func FuzzParseRayletLog(f *testing.F) {
	seedFiles(f,
		filepath.Join(liveDir, liveSession, "logs", "raylet.out"),
		filepath.Join(explicitDir, explicitSession, "logs", "raylet.out"),
		filepath.Join(winDir, winSession, "logs", "raylet.out"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := parseRayletLog(b)
		checkID(t, "node id", r.NodeID)
		checkID(t, "cluster id", r.ClusterID)
		if r.NodeIP != "" && !validHost(r.NodeIP) {
			t.Fatalf("node ip %q", r.NodeIP)
		}
	})
}

func FuzzParseSessionName(f *testing.F) {
	for _, s := range []string{liveSession, explicitSession, winSession, "session_latest", "session_2026-02-30_25-61-61_999999_0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, pid, ok := parseSessionName(s); ok && pid <= 0 {
			t.Fatalf("pid %d", pid)
		}
	})
}

// FuzzReadSession runs the whole session reader over a session dir whose files are
// fuzzed, seeded with the Windows session's real files.
func FuzzReadSession(f *testing.F) {
	enc := func(m map[string][]byte) []byte { b, _ := json.Marshal(m); return b }
	files := map[string][]byte{}
	for _, n := range []string{"ports_by_node.json", "node_ip_address.json", "logs/gcs_server.out", "logs/dashboard.log"} {
		files[n] = mustRead(f, filepath.Join(winDir, winSession, filepath.FromSlash(n)))
	}
	f.Add(enc(files))
	f.Add(enc(map[string][]byte{"gcs_server_port_" + liveHeadNode: []byte("40743"), "logs/ray_client_server.err": []byte("x")}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m map[string][]byte
		if json.Unmarshal(b, &m) != nil {
			return
		}
		dir := t.TempDir()
		for name, data := range m {
			if !allowedFuzzName(name) {
				continue
			}
			p := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		sf := readSession(osFS{}, dir)
		ref := &sessionRef{Root: &rootScan{CurrentCluster: "127.0.0.1:6379"}, Name: "session_x", Real: dir}
		fc := collectFacts(ref, &sf, nil)
		checkHostPort(t, "gcs", fc.GCSAddress())
	})
}

func allowedFuzzName(n string) bool {
	switch n {
	case "ports_by_node.json", "node_ip_address.json", "logs/gcs_server.out", "logs/dashboard.log",
		"logs/ray_client_server.err", "logs/ray_client_server.out", "logs/raylet.out":
		return true
	}
	_, _, ok := splitPortFileName(n)
	return ok && !bytes.ContainsAny([]byte(n), "/\\")
}
