// Package ray_test checks sdk/ray against a real Ray head
// started by e2e/raycluster (make e2e). It needs the pinned Ray venv.
package ray_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/castray/castray/e2e/raycluster"
	"github.com/castray/castray/sdk/ray"
)

const actorScript = `
import os, sys, ray
ray.init(address=os.environ["RAY_ADDRESS"], namespace="castray", log_to_driver=False)
if sys.argv[1] == "start":
    @ray.remote(num_cpus=1)
    class CastrayProbe:
        def ping(self):
            return "pong"
    a = CastrayProbe.options(name="castray-probe", lifetime="detached").remote()
    print(ray.get(a.ping.remote()))
else:
    ray.kill(ray.get_actor("castray-probe", namespace="castray"))
    print("killed")
`

func runPython(t *testing.T, c *raycluster.Cluster, arg string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	py := filepath.Join(filepath.Dir(c.RayBin), "python")
	cmd := exec.CommandContext(ctx, py, "-c", actorScript, arg)
	cmd.Dir = c.TempDir
	cmd.Env = c.Env()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("python %s: %v\n%s", arg, err, errb.String())
	}
	return out.String()
}

// eventually polls f until it returns nil or 30 s pass.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func findActor(as []ray.Actor, name string) *ray.Actor {
	for i := range as {
		if as[i].Name == name {
			return &as[i]
		}
	}
	return nil
}

func TestLiveTokenMode(t *testing.T) {
	c := raycluster.Start(t, raycluster.Options{AuthMode: "token", NumCPUs: 2})
	ctx := context.Background()

	// Identify each port, with and without the token.
	for _, tc := range []struct {
		host string
		port int
		want ray.Kind
	}{
		{"127.0.0.1", c.DashboardPort, ray.KindDashboard},
		{c.NodeIP, c.GCSPort, ray.KindGCS},
		{c.NodeIP, c.ClientServerPort, ray.KindClientServer},
		{c.NodeIP, c.DashboardAgentListenPort, ray.KindDashboardAgent},
	} {
		for _, tok := range []string{c.Token, ""} {
			start := time.Now()
			k, ev, err := ray.Identify(ctx, tc.host, tc.port, tok, 2*time.Second)
			t.Logf("Identify %s:%d (token=%v) = %s in %s; %v; evidence: %q", tc.host, tc.port, tok != "", k, time.Since(start), err, ev)
			if err != nil || k != tc.want {
				t.Errorf("Identify %s:%d = %s, %v; want %s", tc.host, tc.port, k, err, tc.want)
			}
			for _, e := range ev {
				if c.Token != "" && strings.Contains(e, c.Token) {
					t.Fatal("token in evidence")
				}
			}
		}
	}
	if _, _, err := ray.Identify(ctx, "127.0.0.1", c.DashboardMetricPort, "", time.Second); !errors.Is(err, ray.ErrNotRay) {
		t.Errorf("Identify dashboard metrics port: %v, want ErrNotRay", err)
	}

	// Dashboard.
	d, err := ray.NewDashboard(c.DashboardURL, c.Token, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if m, err := d.AuthMode(ctx); err != nil || m != "token" {
		t.Errorf("AuthMode = %q, %v", m, err)
	}
	info, err := d.Version(ctx)
	if err != nil || info.RayVersion != c.RayVersion || info.SessionName != c.SessionName {
		t.Errorf("Version = %+v, %v", info, err)
	}
	for _, tok := range []string{"", "wrong-token"} {
		bad, _ := ray.NewDashboard(c.DashboardURL, tok, 10*time.Second)
		if _, err := bad.Version(ctx); !errors.Is(err, ray.ErrAuth) {
			t.Errorf("Version with token %q: %v, want ErrAuth", tok, err)
		} else {
			t.Logf("dashboard without/with wrong token: %v", err)
		}
	}
	dashCID, err := d.ClusterID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dashNodes, err := d.Nodes(ctx)
	if err != nil || len(dashNodes) != 1 {
		t.Fatalf("dashboard Nodes = %+v, %v", dashNodes, err)
	}
	t.Logf("dashboard node: %+v", dashNodes[0])
	var gcsAddr string
	eventually(t, "dashboard GCSAddress", func() (err error) { gcsAddr, err = d.GCSAddress(ctx); return err })
	if gcsAddr != c.GCSAddress {
		t.Errorf("dashboard GCSAddress = %q, want %q", gcsAddr, c.GCSAddress)
	}

	// GCS.
	if _, err := ray.DialGCS(ctx, c.GCSAddress, ""); !errors.Is(err, ray.ErrAuth) {
		t.Errorf("DialGCS without token: %v, want ErrAuth", err)
	} else {
		t.Logf("GCS without token: %v", err)
	}
	if _, err := ray.DialGCS(ctx, c.GCSAddress, "wrong"); !errors.Is(err, ray.ErrAuth) {
		t.Errorf("DialGCS with a wrong token: %v, want ErrAuth", err)
	}
	g, err := ray.DialGCS(ctx, c.GCSAddress, c.Token)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.RayVersion != c.RayVersion {
		t.Errorf("GCS RayVersion = %q, want %q", g.RayVersion, c.RayVersion)
	}
	gcsCID, err := g.ClusterID(ctx)
	if err != nil || gcsCID != dashCID {
		t.Errorf("GCS ClusterID = %q, %v; dashboard says %q", gcsCID, err, dashCID)
	}
	gcsNodes, err := g.Nodes(ctx)
	if err != nil || len(gcsNodes) != 1 {
		t.Fatalf("GCS Nodes = %+v, %v", gcsNodes, err)
	}
	t.Logf("GCS node: %+v", gcsNodes[0])
	gn, dn := gcsNodes[0], dashNodes[0]
	if gn.NodeID != dn.NodeID || !gn.IsHead || !dn.IsHead || gn.State != "ALIVE" || dn.State != "ALIVE" ||
		gn.ResourcesTotal["CPU"] != 2 || dn.ResourcesTotal["CPU"] != 2 || gn.Address != dn.Address ||
		gn.StartTimeMs != dn.StartTimeMs || gn.SessionName != c.SessionName {
		t.Errorf("GCS and dashboard disagree:\nGCS  %+v\ndash %+v", gn, dn)
	}
	if v, err := g.DashboardAddress(ctx); err != nil || "http://"+v != c.DashboardURL {
		t.Errorf("KV dashboard/dashboard = %q, %v; want %s", v, err, c.DashboardURL)
	}
	if v, err := g.SessionName(ctx); err != nil || v != c.SessionName {
		t.Errorf("KV session/session_name = %q, %v", v, err)
	}
	_, err = g.KVGet(ctx, "castray", "no-such-key")
	t.Logf("KV missing key: %v", err)
	if !errors.Is(err, ray.ErrNotFound) {
		t.Errorf("KV missing key: %v, want ErrNotFound", err)
	}

	// A named detached actor holding one CPU.
	t.Log(strings.TrimSpace(runPython(t, c, "start")))
	check := func(list func(context.Context) ([]ray.Actor, error), who string) *ray.Actor {
		var a *ray.Actor
		eventually(t, who+" Actors lists castray-probe", func() error {
			as, err := list(ctx)
			if err != nil {
				return err
			}
			if a = findActor(as, "castray-probe"); a == nil {
				return errors.New("not listed")
			}
			return nil
		})
		t.Logf("%s actor: %+v", who, *a)
		if a.ClassName != "CastrayProbe" || a.Namespace != "castray" || a.State != "ALIVE" || a.NodeID != gn.NodeID || a.PID == 0 || a.JobID == "" {
			t.Errorf("%s actor = %+v", who, *a)
		}
		return a
	}
	da, ga := check(d.Actors, "dashboard"), check(g.Actors, "GCS")
	if da.ActorID != ga.ActorID || da.PID != ga.PID || da.JobID != ga.JobID {
		t.Errorf("actor differs: dashboard %+v, GCS %+v", *da, *ga)
	}
	st, body, err := c.HTTPGet("/api/v0/actors?detail=true&limit=10&filter_keys=state&filter_predicates=%3D&filter_values=ALIVE")
	t.Logf("raw actors (status %d, %v): %s", st, err, body)
	if dir := os.Getenv("CASTRAY_CAPTURE_TESTDATA"); dir == "1" && st == 200 {
		_ = os.WriteFile("../../sdk/ray/testdata/live-2.60.0/api_v0_actors_detail_alive.json", bytes.ReplaceAll(body, []byte(c.Token), []byte("<TOKEN>")), 0o644)
	}
	eventually(t, "summary shows 1 CPU available", func() error {
		ns, err := d.NodesSummary(ctx)
		if err != nil {
			return err
		}
		if len(ns) != 1 || ns[0].ResourcesAvailable["CPU"] != 1 {
			return fmt.Errorf("not yet: %+v", ns)
		}
		t.Logf("summary node with actor: available %v, total %v", ns[0].ResourcesAvailable, ns[0].ResourcesTotal)
		return nil
	})

	// Kill it: gone from the alive lists, DEAD in the full ones.
	t.Log(strings.TrimSpace(runPython(t, c, "kill")))
	eventually(t, "actor gone", func() error {
		for who, list := range map[string]func(context.Context) ([]ray.Actor, error){"dashboard": d.Actors, "GCS": g.Actors} {
			as, err := list(ctx)
			if err != nil {
				return err
			}
			if findActor(as, "castray-probe") != nil {
				return errors.New(who + " still lists it")
			}
		}
		for who, list := range map[string]func(context.Context) ([]ray.Actor, error){"dashboard": d.AllActors, "GCS": g.AllActors} {
			as, err := list(ctx)
			if err != nil {
				return err
			}
			if a := findActor(as, "castray-probe"); a == nil || a.State != "DEAD" {
				return errors.New(who + " AllActors: not DEAD")
			}
		}
		return nil
	})
}

func TestLiveAuthDisabled(t *testing.T) {
	c := raycluster.Start(t, raycluster.Options{AuthMode: "disabled"})
	ctx := context.Background()
	for _, tc := range []struct {
		host string
		port int
		want ray.Kind
	}{
		{"127.0.0.1", c.DashboardPort, ray.KindDashboard},
		{c.NodeIP, c.GCSPort, ray.KindGCS},
		{c.NodeIP, c.ClientServerPort, ray.KindClientServer},
	} {
		k, ev, err := ray.Identify(ctx, tc.host, tc.port, "", 2*time.Second)
		t.Logf("Identify %s:%d = %s, %v; %q", tc.host, tc.port, k, err, ev)
		if err != nil || k != tc.want {
			t.Errorf("Identify %s:%d = %s, %v; want %s", tc.host, tc.port, k, err, tc.want)
		}
	}
	d, _ := ray.NewDashboard(c.DashboardURL, "", 10*time.Second)
	if m, err := d.AuthMode(ctx); err != nil || m != "disabled" {
		t.Errorf("AuthMode = %q, %v", m, err)
	}
	g, err := ray.DialGCS(ctx, c.GCSAddress, "")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	a, err1 := d.ClusterID(ctx)
	b, err2 := g.ClusterID(ctx)
	if err1 != nil || err2 != nil || a != b {
		t.Errorf("cluster ids %q %v / %q %v", a, err1, b, err2)
	}
}
