package raystatus

import (
	"reflect"
	"strings"
	"testing"
)

func TestClassifyCaptures(t *testing.T) {
	tests := []struct {
		name           string
		stdout, stderr string // testdata files ("" for none)
		exit           int
		want           Outcome
		fromServer     bool
		msgHas         string
	}{
		{name: "status 2.60", stdout: "ray-2.60.0_v1_2node_demands.txt", want: OutcomeStatus},
		{name: "status 2.9.3 v2", stdout: "ray-2.9.3_v2_idle.txt", want: OutcomeStatus},
		{name: "no cluster 2.60", stderr: "ray-2.60.0_no_cluster.stderr", exit: 1, want: OutcomeNoCluster,
			msgHas: "ConnectionError: Could not find any running Ray instance"},
		{name: "no cluster 2.9.3", stderr: "ray-2.9.3_no_cluster.stderr", exit: 1, want: OutcomeNoCluster},
		{name: "auth no token", stderr: "ray-2.60.0_auth_no_token.stderr", exit: 1, want: OutcomeAuth, fromServer: true,
			msgHas: "ray.exceptions.AuthenticationError: RPC error: InvalidAuthToken"},
		{name: "auth bad token", stderr: "ray-2.60.0_auth_bad_token.stderr", exit: 1, want: OutcomeAuth, fromServer: true},
		{name: "auth mode without token", stderr: "ray-2.60.0_auth_mode_without_token.stderr", exit: 1, want: OutcomeAuth,
			msgHas: "Token authentication is enabled but Ray couldn't find an authentication token"},
		{name: "dead 2.60", stderr: "ray-2.60.0_dead_address.stderr", exit: 1, want: OutcomeUnreachable,
			msgHas: "ray.exceptions.RpcError: Timed out while waiting for GCS to become available."},
		{name: "dead 2.9.3", stdout: "ray-2.9.3_dead_address.stdout", stderr: "ray-2.9.3_dead_address.stderr", exit: 1, want: OutcomeUnreachable},
		{name: "version mismatch", stderr: "ray-2.60.0_cli_vs_2.49.2_cluster_version_mismatch.stderr", exit: 1, want: OutcomeVersionMismatch},
		{name: "multiple", stderr: "ray-2.60.0_multiple_instances.stderr", exit: 1, want: OutcomeMultiple},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut string
			if tc.stdout != "" {
				out = readTestdata(t, tc.stdout)
			}
			if tc.stderr != "" {
				errOut = readTestdata(t, tc.stderr)
			}
			r := Classify(out, errOut, tc.exit)
			if r.Outcome != tc.want || r.FromServer != tc.fromServer {
				t.Fatalf("outcome %v fromServer %v (msg %q), want %v %v", r.Outcome, r.FromServer, r.Message, tc.want, tc.fromServer)
			}
			if !strings.Contains(r.Message, tc.msgHas) {
				t.Errorf("message %q lacks %q", r.Message, tc.msgHas)
			}
			if len(r.Message) > maxExcerpt+len("…") {
				t.Errorf("message is %d bytes", len(r.Message))
			}
			if tc.want != OutcomeStatus && r.Message == "" {
				t.Error("empty message")
			}
		})
	}
}

func TestClassifyDetails(t *testing.T) {
	r := Classify("", readTestdata(t, "ray-2.60.0_multiple_instances.stderr"), 1)
	want := []string{"192.0.2.2:44549", "192.0.2.2:52529", "192.0.2.2:34727"}
	if !reflect.DeepEqual(r.Addresses, want) {
		t.Errorf("addresses %q, want %q", r.Addresses, want)
	}
	r = Classify("", readTestdata(t, "ray-2.60.0_cli_vs_2.49.2_cluster_version_mismatch.stderr"), 1)
	if r.ClusterVersion != "2.49.2" || r.CLIVersion != "2.60.0" {
		t.Errorf("versions %q %q", r.ClusterVersion, r.CLIVersion)
	}
	// A status on stdout wins over warnings on stderr, but only with exit 0.
	status := readTestdata(t, "ray-2.60.0_v1_1node_token.txt")
	if r := Classify(status, "WARNING: something odd\n", 0); r.Outcome != OutcomeStatus || r.Status.NodeCount() != 1 {
		t.Errorf("status with warnings: %v", r.Outcome)
	}
	if r := Classify(status, "Traceback...\nValueError: boom\n", 1); r.Outcome != OutcomeError || r.Message != "ValueError: boom" {
		t.Errorf("status with exit 1: %v %q", r.Outcome, r.Message)
	}
	r = Classify("No cluster status. It may take a few seconds for the Ray internal services to start up.\n", "", 0)
	if r.Outcome != OutcomeNoStatusYet {
		t.Errorf("no status yet: %v", r.Outcome)
	}
	if r := Classify("", "", 2); r.Outcome != OutcomeError || r.Message != "no output" {
		t.Errorf("empty: %v %q", r.Outcome, r.Message)
	}
	if r := Classify("Usage: ray status [OPTIONS]\nTry 'ray status --help' for help.\n\nError: No such option: --adress\n", "", 2); r.Outcome != OutcomeError ||
		r.Message != "Error: No such option: --adress" {
		t.Errorf("click usage error: %v %q", r.Outcome, r.Message)
	}
}

func TestExcerpt(t *testing.T) {
	long := "RuntimeError: " + strings.Repeat("é", 400)
	got := Excerpt("Traceback (most recent call last):\n  File \"x\"\n" + long + "\n")
	if !strings.HasPrefix(got, "RuntimeError: ") || len(got) > maxExcerpt+len("…") || !strings.HasSuffix(got, "…") {
		t.Errorf("long excerpt %q (%d bytes)", got, len(got))
	}
	if got := Excerpt("something\n/usr/lib/libc.so(+0x1) [0x1]\n*** StackTrace Information ***\n\n"); got != "something" {
		t.Errorf("stack trace excerpt %q", got)
	}
	if got := Excerpt("\x1b[31mError: red\x1b[0m\r\n"); got != "Error: red" {
		t.Errorf("ansi excerpt %q", got)
	}
}
