package discovery

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/castray/castray/sdk"
)

// counting is a plugin that counts the rounds it was asked to run.
type counting struct {
	fake
	n atomic.Int32
}

func (c *counting) Discover(ctx context.Context, req *sdk.DiscoverRequest, sink sdk.DiscoverSink) (*sdk.DiscoverSummary, error) {
	c.n.Add(1)
	return c.fake.Discover(ctx, req, sink)
}

func TestScopeRefusesBadAndForeignHostsBeforeAnyPlugin(t *testing.T) {
	allow, err := ParseScope("scan_allow", []string{"127.0.0.0/8", "10.1.0.0/16", "192.0.2.7", "ray-head.lan"})
	if err != nil {
		t.Fatal(err)
	}
	p := &counting{}
	m := New(Options{Plugins: plugins{"p": p}, Scope: allow})
	for _, tc := range []struct {
		req       Request
		forbidden bool
		says      string
	}{
		{Request{Ports: []uint32{70000}}, false, "ports: 70000 is not a port"},
		{Request{Ports: []uint32{0}}, false, "ports: 0 is not a port"},
		{Request{Hosts: []string{"127.0.0.1/8"}}, false, "127.0.0.1/8 has host bits set: did you mean 127.0.0.0/8?"},
		{Request{Hosts: []string{"999.1.1.1"}}, false, `"999.1.1.1" is not an IP address`},
		{Request{Hosts: []string{"10.0.0.0/8"}}, false, "10.0.0.0/8 is wider than /16"},
		{Request{Hosts: []string{"bad_name!"}}, false, "neither an IP address"},
		{Request{Hosts: []string{""}}, false, "an empty host"},
		{Request{Hosts: []string{"8.8.8.8"}}, true, "8.8.8.8 is outside scan_allow"},
		{Request{Hosts: []string{"10.2.0.0/16"}}, true, "outside scan_allow"},
		{Request{Hosts: []string{"192.0.2.0/24"}}, true, "outside scan_allow"},
		{Request{Hosts: []string{"example.com"}}, true, `"example.com" is not in scan_allow`},
	} {
		_, err := m.Discover(context.Background(), tc.req)
		var se *ScopeError
		if !errors.As(err, &se) || se.Forbidden != tc.forbidden || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%+v: %v (forbidden %v), want one saying %q (forbidden %v)", tc.req, err, se != nil && se.Forbidden, tc.says, tc.forbidden)
		}
	}
	if n := p.n.Load(); n != 0 {
		t.Fatalf("refused requests ran the plugin %d times", n)
	}
	for _, req := range []Request{
		{Hosts: []string{"127.0.0.1", "10.1.2.0/24", "10.1.0.0/16", "192.0.2.7", "Ray-Head.lan", "::ffff:127.0.0.2"}, Ports: []uint32{1, 65535}},
		{},
	} {
		if _, err := m.Discover(context.Background(), req); err != nil {
			t.Errorf("%+v: %v", req, err)
		}
	}
	if n := p.n.Load(); n != 2 {
		t.Errorf("the plugin ran %d times for 2 allowed requests", n)
	}
}

func TestThisMachineAndBadAllowlists(t *testing.T) {
	s := ThisMachine("the default")
	if err := s.Check(Request{Hosts: []string{"127.0.0.1", "localhost", "::1"}}); err != nil {
		t.Errorf("this machine refuses loopback: %v", err)
	}
	if err := s.Check(Request{Hosts: []string{"203.0.113.9"}}); err == nil || !strings.Contains(err.Error(), "outside the default") {
		t.Errorf("this machine allows 203.0.113.9: %v", err)
	}
	var none *Scope // no allowlist: only well-formed input is checked
	if err := none.Check(Request{Hosts: []string{"203.0.113.9", "example.com"}}); err != nil {
		t.Errorf("no allowlist: %v", err)
	}
	for _, bad := range []string{"10.0.0.1/8", "300.1.1.1", ""} {
		if _, err := ParseScope("external_cluster.scan_allow", []string{bad}); err == nil || !strings.HasPrefix(err.Error(), "external_cluster.scan_allow: ") {
			t.Errorf("allowlist %q: %v", bad, err)
		}
	}
	if _, err := ParseScope("k", []string{"0.0.0.0/0", "::/0"}); err != nil {
		t.Errorf("an allowlist may be as wide as the operator wants: %v", err)
	}
}
