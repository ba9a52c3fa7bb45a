package scan

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestParseHostEntryGuard(t *testing.T) {
	count := func(e hostEntry) int {
		n := 0
		for range e.addrs() {
			n++
		}
		return n
	}
	cases := []struct {
		in        string
		allowWide bool
		want      int    // addresses; 0 = error
		errHas    string // part of the error
	}{
		{"127.0.0.1", false, 1, ""},
		{"localhost", false, 1, ""},
		{"::1", false, 1, ""},
		{"[::1]", false, 1, ""},
		{"ray-head.example.internal", false, 1, ""},
		{"192.168.1.0/24", false, 254, ""},
		{"192.168.1.77/24", false, 254, ""}, // masked to the block
		{"10.0.0.0/30", false, 2, ""},
		{"10.0.0.0/31", false, 2, ""},
		{"10.0.0.5/32", false, 1, ""},
		{"fd00::/120", false, 256, ""},
		{"10.0.0.0/23", false, 0, "allow_wide_scan"},
		{"10.0.0.0/23", true, 510, ""},
		{"fd00::/119", false, 0, "allow_wide_scan"},
		{"10.0.0.0/16", true, 65534, ""},
		{"10.0.0.0/15", true, 0, "at most 65536"},
		{"0.0.0.0/0", true, 0, "at most 65536"},
		{"::/0", true, 0, "at most 65536"},
		{"10.0.0.0/33", false, 0, "CIDR"},
		{"127.0.0.1:6379", false, 0, "ports go in"},
		{"http://127.0.0.1", false, 0, "ports go in"},
		{"", false, 0, "empty"},
		{"bad host", false, 0, ""},
		{"-", true, 1, ""},
	}
	for _, c := range cases {
		e, err := parseHostEntry(c.in, c.allowWide)
		if c.want == 0 {
			if err == nil || !strings.Contains(err.Error(), c.errHas) {
				t.Errorf("%q: err = %v, want one containing %q", c.in, err, c.errHas)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if n := count(e); n != c.want || e.count != c.want {
			t.Errorf("%q: %d addresses (count %d), want %d", c.in, n, e.count, c.want)
		}
	}
	e, _ := parseHostEntry("192.168.1.0/24", false)
	var first, last string
	for a := range e.addrs() {
		if first == "" {
			first = a
		}
		last = a
	}
	if first != "192.168.1.1" || last != "192.168.1.254" {
		t.Errorf("/24 runs %s..%s", first, last)
	}
	e, _ = parseHostEntry("255.255.255.252/30", false)
	var got []string
	for a := range e.addrs() {
		got = append(got, a)
	}
	if !slices.Equal(got, []string{"255.255.255.253", "255.255.255.254"}) {
		t.Errorf("top /30 = %v", got)
	}
}

func TestPorts(t *testing.T) {
	ps := defaultPorts([]int{7000, 6379}, []int{9000, 8265})
	var nums []int
	for _, p := range ps {
		nums = append(nums, p.Port)
	}
	want := []int{6379, 7000, 10001, 8265, 8266, 8267, 8268, 8269, 52365, 9000}
	if !slices.Equal(nums, want) {
		t.Fatalf("ports = %v, want %v", nums, want)
	}
	if ps[1].Role != roleGCS || ps[2].Role != roleClient || ps[3].Role != roleDashboard || ps[8].Role != roleAgent || ps[9].Role != roleUnknown {
		t.Fatalf("roles = %v", ps)
	}
	rp := requestPorts([]uint32{8265, 1234, 0, 70000, 8265}, ps)
	if len(rp) != 2 || rp[0] != (portSpec{8265, roleDashboard}) || rp[1] != (portSpec{1234, roleUnknown}) {
		t.Fatalf("request ports = %v", rp)
	}
}

func TestAddressTargets(t *testing.T) {
	entries := []hostEntry{{raw: "127.0.0.1", host: "127.0.0.1", count: 1}}
	ports := defaultPorts(nil, nil)
	got := addressTargets([]string{
		"127.0.0.1:6379",        // covered by the scan
		"ray://127.0.0.1:20001", // not covered: client role
		"http://10.1.2.3:8265/", // dashboard
		"10.1.2.3:6380",         // unknown role
		"auto", "local", "https://x:1", "h:0", "h:99999", "h:+5",
	}, entries, ports)
	if len(got) != 2 || got[0].host != "127.0.0.1" || got[1].host != "10.1.2.3" {
		t.Fatalf("targets = %+v", got)
	}
	if got[0].ports[0] != (portSpec{20001, roleClient}) || got[1].ports[0] != (portSpec{8265, roleDashboard}) || got[1].ports[1] != (portSpec{6380, roleUnknown}) {
		t.Fatalf("ports = %+v", got)
	}
}

// TestLimiter: rate.Limiter on the fake clock, as the scan uses it.
func TestLimiter(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	b := clock.limiter(50, 5)
	for i := range 15 {
		if err := b.wait(ctx); err != nil {
			t.Fatal(err)
		}
		// The burst is free; then one token per 20 ms.
		if want := time.Duration(max(0, i-4)) * 20 * time.Millisecond; absDiff(clock.Slept(), want) > time.Millisecond {
			t.Fatalf("token %d: waited %v in all, want %v", i+1, clock.Slept(), want)
		}
	}
	// Tokens come back with time, up to the burst.
	_ = clock.Sleep(ctx, time.Hour)
	before := clock.Slept()
	for range 5 {
		_ = b.wait(ctx)
	}
	if clock.Slept() != before {
		t.Fatalf("a refilled burst waited %v", clock.Slept()-before)
	}
	if _ = b.wait(ctx); clock.Slept() == before {
		t.Fatal("the sixth token after a refill did not wait")
	}

	// A cancelled context ends a wait (on the real clock: a token every
	// 1000 s).
	cctx, cancel := context.WithCancel(ctx)
	slow := &limiter{lim: rate.NewLimiter(0.001, 1), clock: realClock{}}
	_ = slow.wait(cctx)
	done := make(chan error, 1)
	go func() { done <- slow.wait(cctx) }()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Wait did not return the context's error")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Wait did not return after the cancellation")
	}
}

func absDiff(a, b time.Duration) time.Duration {
	if a > b {
		return a - b
	}
	return b - a
}

func TestResolveToken(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("RAY_AUTH_TOKEN", "")
	t.Setenv("RAY_AUTH_TOKEN_PATH", "")
	if tok, _, p := resolveToken(""); tok != "" || p != "" {
		t.Fatalf("no token anywhere: %q %q", tok, p)
	}
	if err := os.MkdirAll(filepath.Join(home, ".ray"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".ray", "auth_token"), []byte("  home-token \nsecond line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, src, _ := resolveToken(""); tok != "home-token" || src != "~/.ray/auth_token" {
		t.Fatalf("home file: %q %q", tok, src)
	}
	pathFile := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(pathFile, []byte("path-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RAY_AUTH_TOKEN_PATH", pathFile)
	if tok, _, _ := resolveToken(""); tok != "path-token" {
		t.Fatalf("RAY_AUTH_TOKEN_PATH: %q", tok)
	}
	t.Setenv("RAY_AUTH_TOKEN_PATH", filepath.Join(home, "missing"))
	if tok, _, p := resolveToken(""); tok != "" || !strings.Contains(p, "RAY_AUTH_TOKEN_PATH") || strings.Contains(p, "home-token") {
		t.Fatalf("unreadable RAY_AUTH_TOKEN_PATH: %q %q", tok, p)
	}
	t.Setenv("RAY_AUTH_TOKEN", "env-token")
	if tok, _, _ := resolveToken(""); tok != "env-token" {
		t.Fatalf("RAY_AUTH_TOKEN: %q", tok)
	}
	if tok, src, _ := resolveToken(" cfg-token "); tok != "cfg-token" || src != "config auth_token" {
		t.Fatalf("config: %q %q", tok, src)
	}
}
