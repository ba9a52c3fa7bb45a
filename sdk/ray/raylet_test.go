package ray

import (
	"reflect"
	"testing"
)

func TestParseRayletCmdline(t *testing.T) {
	// The raylet's argv as the dashboard agent reported it in
	// /nodes?view=summary (live 2.60.0; nested worker commands
	// abbreviated, with flags of their own that must not be read).
	args := []string{
		"/work/main/.venv-ray/lib/python3.11/site-packages/ray/core/src/ray/raylet/raylet",
		"--raylet_socket_name=/tmp/crt-510289874/session_2026-11-25_20-07-29_481642_5176/sockets/raylet",
		"--node_id=a5bc4c1fae8126d2adbef853b116ef8d4b2aebb3d86535db8f6abf60",
		"--node_ip_address=192.0.2.2",
		"--static_resource_list=node:192.0.2.2,1.0,node:__internal_head__,1.0,CPU,1,memory,17287300711,object_store_memory,7408843161",
		"--python_worker_command=/x/python3 setup_worker.py default_worker.py --gcs-address=10.9.9.9:1 --session-name=session_bogus --cluster-id=00",
		"--session_dir=/tmp/crt-510289874/session_2026-11-25_20-07-29_481642_5176",
		"--gcs-address=192.0.2.2:44517",
		"--session-name=session_2026-11-25_20-07-29_481642_5176",
		"--labels=",
		"--cluster-id=6438F99F705B69B098C99290D597C073CCF9458474B33256EC221DAE",
		"--head",
	}
	f := ParseRayletCmdline(args)
	want := RayletFacts{
		GCSAddress: "192.0.2.2:44517", ClusterID: "6438f99f705b69b098c99290d597c073ccf9458474b33256ec221dae",
		SessionName: "session_2026-11-25_20-07-29_481642_5176", SessionDir: "/tmp/crt-510289874/session_2026-11-25_20-07-29_481642_5176",
		NodeIP: "192.0.2.2", Head: true,
		StaticResources: []string{"node:192.0.2.2", "node:__internal_head__", "CPU", "memory", "object_store_memory"},
	}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("got  %+v\nwant %+v", f, want)
	}
	if f := ParseRayletCmdline([]string{"/usr/bin/python", "--gcs-address=1.2.3.4:5", "--head"}); !reflect.DeepEqual(f, RayletFacts{}) {
		t.Fatalf("not a raylet: %+v", f)
	}
	// Values that are not what the flag holds are left out.
	f = ParseRayletCmdline([]string{"raylet", "--gcs-address=nohost", "--cluster-id=abc", "--session-name=../x", "--node_ip_address=h", "--session_dir=a\nb"})
	if !reflect.DeepEqual(f, RayletFacts{}) {
		t.Fatalf("invalid values kept: %+v", f)
	}
}

func TestCmdlineFlags(t *testing.T) {
	got := CmdlineFlags([]string{
		"-m", "ray.util.client.server",
		"--gcs-address=192.0.2.2:1", "--gcs_address=192.0.2.9:9", // the first of a key wins
		"--session_dir=/t/session_a", "-node-ip-address=::1",
		"--labels=", "--head", "--python_worker_command=/x/python3 w.py --port=7",
		"value", "--=x", "-", "--static_resource_list=CPU,1=2",
	})
	want := map[string]string{
		"m": "", "gcs_address": "192.0.2.2:1", "session_dir": "/t/session_a", "node_ip_address": "::1",
		"labels": "", "head": "", "python_worker_command": "/x/python3 w.py --port=7", "static_resource_list": "CPU,1=2",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
	if got := CmdlineFlags(nil); len(got) != 0 {
		t.Fatalf("no args: %v", got)
	}
}
