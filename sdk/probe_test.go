package sdk_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/castray/castray/sdk"
)

func TestTargets(t *testing.T) {
	got, err := sdk.Targets([]string{"h", "10.0.0.4/31", "::1"}, []uint32{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"h:1", "h:2", "10.0.0.4:1", "10.0.0.4:2", "10.0.0.5:1", "10.0.0.5:2", "[::1]:1", "[::1]:2"}
	if !slices.Equal(got, want) {
		t.Errorf("Targets = %q, want %q", got, want)
	}
	if _, err := sdk.Targets([]string{"10.0.0.0/8"}, []uint32{1}); err == nil {
		t.Error("a /8 was accepted")
	}
	if _, err := sdk.Targets([]string{"10.0.0.0/16"}, []uint32{1, 2}); err == nil {
		t.Error("more than MaxProbeTargets targets were accepted")
	}
}

func TestProbeEach(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	probe := func(ctx context.Context, host string, port int) error {
		target := net.JoinHostPort(host, strconv.Itoa(port))
		if _, ok := ctx.Deadline(); !ok {
			t.Errorf("probe of %s has no deadline", target)
		}
		mu.Lock()
		seen = append(seen, target)
		mu.Unlock()
		return nil
	}
	// The request's scope replaces the defaults, each list on its own.
	sum, err := sdk.ProbeEach(context.Background(), &sdk.DiscoverRequest{Ports: []uint32{9}, ProbeTimeoutMs: 1000},
		[]string{"a", "b"}, []uint32{1}, probe)
	slices.Sort(seen)
	if err != nil || sum.GetProbes() != 2 || !slices.Equal(seen, []string{"a:9", "b:9"}) {
		t.Fatalf("ProbeEach = %v, %v; probed %q", sum, err, seen)
	}

	// The first error stops the call and is returned.
	stop := errors.New("sink closed")
	_, err = sdk.ProbeEach(context.Background(), &sdk.DiscoverRequest{Hosts: []string{"10.0.0.0/24"}, ProbeTimeoutMs: 1000},
		nil, []uint32{1}, func(context.Context, string, int) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("err = %v, want the probe's", err)
	}

	// A bad scope is an invalid argument.
	_, err = sdk.ProbeEach(context.Background(), &sdk.DiscoverRequest{Hosts: []string{"10.0.0.0/8"}}, nil, []uint32{1}, probe)
	if !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Errorf("err = %v, want invalid argument", err)
	}
}

func TestConfiguredKeepsDefaultsInTheSchema(t *testing.T) {
	type cfg struct {
		Port int `json:"port" castray:"desc=the port"`
	}
	c := &sdk.Configured[cfg]{Config: cfg{Port: 8265}}
	if problems, err := c.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: []byte(`{"port": 1}`)}); problems != nil || err != nil {
		t.Fatal(problems, err)
	}
	schema, err := c.ConfigSchema(context.Background())
	if err != nil || c.Config.Port != 1 || schema.GetFields()[0].GetDefaultJson() != "8265" {
		t.Errorf("config %+v, schema %v, %v", c.Config, schema, err)
	}
}
