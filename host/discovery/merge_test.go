package discovery

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/castray/castray/sdk"
)

// mergeInOrder feeds cands to a fresh merger one by one, as a round would.
func mergeInOrder(cands []*sdk.ClusterCandidate) []*Cluster {
	m := &merger{norm: newNormalizer()}
	for _, c := range cands {
		m.add(c)
	}
	return m.clusters()
}

// fingerprint is the whole merge result (ids, membership through the
// evidence, every field) as text, clusters sorted by id.
func fingerprint(t *testing.T, clusters []*Cluster) string {
	t.Helper()
	sorted := slices.Clone(clusters)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	b, err := json.MarshalIndent(sorted, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// permutations returns every order of cands when there are few of them,
// else the given order, its reverse and n seeded random shuffles (the seed
// is fixed: the test is the same on every run).
func permutations(cands []*sdk.ClusterCandidate, n int) [][]*sdk.ClusterCandidate {
	if len(cands) <= 6 {
		var out [][]*sdk.ClusterCandidate
		var permute func(k int, a []*sdk.ClusterCandidate)
		permute = func(k int, a []*sdk.ClusterCandidate) {
			if k == len(a) {
				out = append(out, slices.Clone(a))
				return
			}
			for i := k; i < len(a); i++ {
				a[k], a[i] = a[i], a[k]
				permute(k+1, a)
				a[k], a[i] = a[i], a[k]
			}
		}
		permute(0, slices.Clone(cands))
		return out
	}
	out := [][]*sdk.ClusterCandidate{slices.Clone(cands)}
	rev := slices.Clone(cands)
	slices.Reverse(rev)
	out = append(out, rev)
	r := rand.New(rand.NewPCG(1, 2))
	for range n {
		p := slices.Clone(cands)
		r.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
		out = append(out, p)
	}
	return out
}

// assertOrderFree merges every permutation of cands and fails unless all
// give the same result; it returns that result.
func assertOrderFree(t *testing.T, cands []*sdk.ClusterCandidate) []*Cluster {
	t.Helper()
	perms := permutations(cands, 300)
	want := mergeInOrder(perms[0])
	wantFP := fingerprint(t, want)
	for i, p := range perms[1:] {
		if got := fingerprint(t, mergeInOrder(p)); got != wantFP {
			var order []string
			for _, c := range p {
				order = append(order, c.GetSource()+"/"+c.GetSessionName()+c.GetGcsAddress()+c.GetDashboardUrl())
			}
			t.Fatalf("permutation %d (%s) merges differently:\n%s\nwant (first order):\n%s", i+1, strings.Join(order, ", "), got, wantFP)
		}
	}
	return want
}

// Ray 2.60's default ports, as every session of a temp dir names them.
const (
	defGCS  = "127.0.0.1:6379"
	defDash = "127.0.0.1:8265"
)

func staleSession(name string) *sdk.ClusterCandidate {
	return &sdk.ClusterCandidate{Source: "tmpdir", SessionName: name, SessionDir: "/tmp/ray/" + name,
		GcsAddress: defGCS, DashboardUrl: defDash, Status: sdk.StatusInactive, NodeCount: -1,
		Evidence: []string{"no raylet runs for " + name}}
}

func liveSession(name string) *sdk.ClusterCandidate {
	c := staleSession(name)
	c.Status, c.Evidence = sdk.StatusActive, []string{"raylet of " + name + " runs"}
	return c
}

// urlOnly is what dashboard-scan reports of a dashboard that would not say
// which session it serves.
func urlOnly(status sdk.ClusterStatus) *sdk.ClusterCandidate {
	return &sdk.ClusterCandidate{Source: "dashboard-scan", DashboardUrl: "http://localhost:8265", Status: status,
		RayVersion: "2.60.0", NodeCount: -1, AuthRequired: true}
}

// clusterOf is the id of the cluster holding the candidate of that source
// (and with that evidence line, when given), read from the clusters'
// evidence.
func clusterOf(clusters []*Cluster, source, evidence string) string {
	for _, cl := range clusters {
		for _, ev := range cl.Evidence {
			if ev.Source == source && (evidence == "" || slices.Contains(ev.Evidence, evidence)) {
				return cl.ID
			}
		}
	}
	return ""
}

// The bug: a dashboard-only candidate and several stale sessions that all
// name the default dashboard URL merged into whichever session came first,
// so identical rounds gave different cluster ids.
func TestWeakIdentifierSharedBySeveralSessions(t *testing.T) {
	const s1, s2, s3, live = "session_2026-11-01_10-00-00_000001_1", "session_2026-11-02_10-00-00_000002_2",
		"session_2026-11-03_10-00-00_000003_3", "session_2026-11-04_10-00-00_000004_4"
	for _, tc := range []struct {
		name  string
		cands []*sdk.ClusterCandidate
		// where the dashboard-only candidate lands, and how many clusters
		want     string
		clusters int
	}{
		{"stale sessions only: kept apart", []*sdk.ClusterCandidate{urlOnly(sdk.StatusUnknown), staleSession(s1), staleSession(s2), staleSession(s3)},
			"dash-127.0.0.1-8265", 4},
		{"one live among stale ones: joins the live one", []*sdk.ClusterCandidate{urlOnly(sdk.StatusUnknown), staleSession(s1), staleSession(s2), liveSession(live), staleSession(s3)},
			strings.TrimPrefix(live, "session_"), 4},
		{"a single stale session: joins it", []*sdk.ClusterCandidate{urlOnly(sdk.StatusUnknown), staleSession(s1)},
			strings.TrimPrefix(s1, "session_"), 1},
		{"running dashboard, stale sessions only: kept apart", []*sdk.ClusterCandidate{urlOnly(sdk.StatusActive), staleSession(s1), staleSession(s2)},
			"dash-127.0.0.1-8265", 3},
		{"running dashboard, one stale session: kept apart", []*sdk.ClusterCandidate{urlOnly(sdk.StatusActive), staleSession(s1)},
			"dash-127.0.0.1-8265", 2},
		{"two live sessions: ambiguous, kept apart", []*sdk.ClusterCandidate{urlOnly(sdk.StatusUnknown), liveSession(s1), liveSession(live), staleSession(s2)},
			"dash-127.0.0.1-8265", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clusters := assertOrderFree(t, tc.cands)
			if got := clusterOf(clusters, "dashboard-scan", ""); got != tc.want {
				t.Errorf("the dashboard-only candidate is in %q, want %q\n%s", got, tc.want, fingerprint(t, clusters))
			}
			if len(clusters) != tc.clusters {
				t.Errorf("%d clusters, want %d\n%s", len(clusters), tc.clusters, fingerprint(t, clusters))
			}
		})
	}
}

// A cluster id without a session joins by id, else by address only when one
// session (naming no id) is the only or the only live target, and only when
// no other cluster id claims the same session.
func TestClusterIDCandidates(t *testing.T) {
	const cidX, cidY = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	gcsProbe := func(cid, addr string) *sdk.ClusterCandidate {
		return &sdk.ClusterCandidate{Source: "portscan", ClusterId: cid, GcsAddress: addr, Status: sdk.StatusActive, NodeCount: 3,
			Evidence: []string{"GCS answers with cluster id " + cid}}
	}
	withCID := func(c *sdk.ClusterCandidate, cid string) *sdk.ClusterCandidate { c.ClusterId = cid; return c }
	for _, tc := range []struct {
		name     string
		cands    []*sdk.ClusterCandidate
		want     []string // session of the cluster of each portscan candidate, in the order given
		clusters int
	}{
		{"same id as a session", []*sdk.ClusterCandidate{gcsProbe(cidX, "10.0.0.5:6379"), withCID(liveSession("session_a"), cidX), staleSession("session_b")},
			[]string{"session_a"}, 2},
		{"by address: the live session, not the stale ones", []*sdk.ClusterCandidate{gcsProbe(cidX, "localhost:6379"), liveSession("session_a"), staleSession("session_b"), staleSession("session_c")},
			[]string{"session_a"}, 3},
		{"by address: another id already names the session", []*sdk.ClusterCandidate{gcsProbe(cidX, "localhost:6379"), withCID(liveSession("session_a"), cidY)},
			[]string{""}, 2},
		{"two ids claim one session by address: neither joins", []*sdk.ClusterCandidate{gcsProbe(cidX, "localhost:6379"), gcsProbe(cidY, "localhost:6379"), liveSession("session_a")},
			[]string{"", ""}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clusters := assertOrderFree(t, tc.cands)
			var got []string
			for _, c := range tc.cands {
				if c.GetSource() == "portscan" {
					id := clusterOf(clusters, "portscan", "GCS answers with cluster id "+c.GetClusterId())
					i := slices.IndexFunc(clusters, func(cl *Cluster) bool { return cl.ID == id })
					got = append(got, clusters[i].SessionName)
				}
			}
			if !slices.Equal(got, tc.want) || len(clusters) != tc.clusters {
				t.Errorf("portscan candidates in %v (want %v), %d clusters (want %d)\n%s", got, tc.want, len(clusters), tc.clusters, fingerprint(t, clusters))
			}
		})
	}
}

// The property: whatever order the candidates of a round arrive in, the
// merge is the same: cluster ids, membership and every field.
func TestMergeIsAFunctionOfTheCandidateSet(t *testing.T) {
	const live = "session_2026-11-25_20-00-00_000000_1"
	remoteCID := "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"
	cands := []*sdk.ClusterCandidate{
		// this host's temp dir: the live session and three stale ones, all
		// on the default ports
		liveSession(live), staleSession("session_2026-11-01_10-00-00_000001_1"),
		staleSession("session_2026-11-02_10-00-00_000002_2"), staleSession("session_2026-11-03_10-00-00_000003_3"),
		// the dashboard, URL only; ray status and a port scan, GCS address only
		urlOnly(sdk.StatusUnknown),
		{Source: "ray-status", GcsAddress: "localhost:6379", Status: sdk.StatusActive, NodeCount: 2,
			ResourcesTotal: map[string]float64{"CPU": 8}, ResourcesUsed: map[string]float64{"CPU": 1}},
		{Source: "portscan", GcsAddress: "127.0.0.1:6379", Status: sdk.StatusActive, NodeCount: 1,
			ResourcesTotal: map[string]float64{"CPU": 4}, Attributes: map[string]string{"probe": "GetAllNodeInfo"}},
		// a remote cluster: its dashboard names session and id, the GCS probe
		// only the id
		{Source: "dashboard-scan", SessionName: "session_remote", ClusterId: remoteCID, DashboardUrl: "http://10.0.0.5:8265",
			Status: sdk.StatusActive, NodeCount: 4, RayVersion: "2.60.0"},
		{Source: "portscan", ClusterId: remoteCID, GcsAddress: "10.0.0.5:6379", ClientAddress: "ray://10.0.0.5:10001",
			Status: sdk.StatusActive, NodeCount: 4},
		// a transitive chain on 10.0.0.7: GCS-only and dashboard-only become
		// one through a third candidate naming both
		{Source: "ray-status", GcsAddress: "10.0.0.7:6379", Status: sdk.StatusActive, NodeCount: 1},
		{Source: "dashboard-scan", DashboardUrl: "10.0.0.7:8265", Status: sdk.StatusUnknown, NodeCount: -1},
		{Source: "portscan", GcsAddress: "10.0.0.7:6379", DashboardUrl: "http://10.0.0.7:8265", Status: sdk.StatusActive, NodeCount: 2},
		// another host's stale sessions sharing a dashboard URL, and that URL
		// alone: ambiguous, so it stays apart
		{Source: "tmpdir", SessionName: "session_x1", DashboardUrl: "10.0.0.9:8265", GcsAddress: "10.0.0.9:6379", Status: sdk.StatusInactive, NodeCount: -1},
		{Source: "tmpdir", SessionName: "session_x2", DashboardUrl: "10.0.0.9:8265", GcsAddress: "10.0.0.9:6379", Status: sdk.StatusInactive, NodeCount: -1},
		{Source: "dashboard-scan", DashboardUrl: "http://10.0.0.9:8265", Status: sdk.StatusUnknown, NodeCount: -1},
		// a GCS address seen running by one source and stopped by another
		{Source: "portscan", GcsAddress: "10.0.0.11:6379", Status: sdk.StatusActive, NodeCount: 1},
		{Source: "ray-status", GcsAddress: "10.0.0.11:6379", Status: sdk.StatusInactive, NodeCount: -1},
		// the same candidate twice
		{Source: "ray-status", GcsAddress: "10.0.0.12:6379", Status: sdk.StatusActive, NodeCount: 1},
		{Source: "ray-status", GcsAddress: "10.0.0.12:6379", Status: sdk.StatusActive, NodeCount: 1},
	}
	clusters := assertOrderFree(t, cands)

	// And the result is the one the rule in the package doc gives.
	byID := map[string]*Cluster{}
	for _, cl := range clusters {
		byID[cl.ID] = cl
	}
	var ids []string
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	want := []string{
		"2026-11-01_10-00-00_000001_1", "2026-11-02_10-00-00_000002_2", "2026-11-03_10-00-00_000003_3",
		"2026-11-25_20-00-00_000000_1", "cid-c0ffee00c0ff", "dash-10.0.0.9-8265", "gcs-10.0.0.11-6379", "gcs-10.0.0.11-6379-2",
		"gcs-10.0.0.12-6379", "gcs-10.0.0.7-6379", "x1", "x2",
	}
	if !slices.Equal(ids, want) || len(clusters) != len(want) {
		t.Fatalf("cluster ids %v, want %v", ids, want)
	}
	if cl := byID[strings.TrimPrefix(live, "session_")]; strings.Join(cl.Sources, ",") != "dashboard-scan,portscan,ray-status,tmpdir" ||
		len(cl.Evidence) != 4 || cl.Status != "active" || cl.Nodes != 2 || cl.RayVersion != "2.60.0" || !cl.AuthRequired ||
		cl.GCSAddress != defGCS || cl.DashboardURL != "http://"+defDash {
		t.Errorf("live cluster %+v", cl)
	}
	for _, id := range want[:3] {
		if cl := byID[id]; len(cl.Evidence) != 1 || cl.Status != "inactive" {
			t.Errorf("stale session %s: %+v", id, cl)
		}
	}
	if cl := byID["cid-c0ffee00c0ff"]; cl.SessionName != "session_remote" || cl.ClusterID != remoteCID || len(cl.Evidence) != 2 || cl.ClientAddress != "ray://10.0.0.5:10001" || cl.GCSAddress != "10.0.0.5:6379" {
		t.Errorf("remote %+v", cl)
	}
	if cl := byID["gcs-10.0.0.7-6379"]; len(cl.Evidence) != 3 || cl.DashboardURL != "http://10.0.0.7:8265" || cl.Nodes != 2 {
		t.Errorf("transitive %+v", cl)
	}
	if cl := byID["dash-10.0.0.9-8265"]; len(cl.Evidence) != 1 || cl.Status != "unknown" {
		t.Errorf("ambiguous dashboard %+v", cl)
	}
	if a, b := byID["gcs-10.0.0.11-6379"], byID["gcs-10.0.0.11-6379-2"]; a.Status != "active" || b.Status != "inactive" {
		t.Errorf("running %+v, stopped %+v", a, b)
	}
	if cl := byID["gcs-10.0.0.12-6379"]; len(cl.Evidence) != 2 {
		t.Errorf("duplicate %+v", cl)
	}
}

// rotating reports its candidates in a different order on every call, as
// a plugin's concurrent probes do.
type rotating struct {
	fake
	calls int
}

func (r *rotating) Discover(ctx context.Context, req *sdk.DiscoverRequest, sink sdk.DiscoverSink) (*sdk.DiscoverSummary, error) {
	n := len(r.candidates)
	order := append(slices.Clone(r.candidates[r.calls%n:]), r.candidates[:r.calls%n]...)
	if r.calls%2 == 1 {
		slices.Reverse(order)
	}
	r.calls++
	return (&fake{candidates: order}).Discover(ctx, req, sink)
}

// Identical rounds through the manager give identical clusters.
func TestIdenticalRoundsGiveIdenticalClusters(t *testing.T) {
	tmpdir := &rotating{fake: fake{candidates: []*sdk.ClusterCandidate{
		staleSession("session_a"), staleSession("session_b"), staleSession("session_c"), staleSession("session_d"),
		{Source: "tmpdir", DashboardUrl: defDash, Status: sdk.StatusUnknown, NodeCount: -1},
		{Source: "tmpdir", GcsAddress: defGCS, Status: sdk.StatusUnknown, NodeCount: -1},
	}}}
	m := New(Options{Plugins: plugins{
		"tmpdir":         tmpdir,
		"dashboard-scan": &fake{candidates: []*sdk.ClusterCandidate{urlOnly(sdk.StatusUnknown)}},
	}})
	var first string
	for round := range 8 {
		res, err := m.Discover(context.Background(), Request{})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(res.Clusters)
		if round == 0 {
			first = string(b)
			if len(res.Clusters) != 6 || clusterOf(ptrs(res.Clusters), "dashboard-scan", "") != "dash-127.0.0.1-8265" {
				t.Fatalf("round 0: %s", b)
			}
			continue
		}
		if string(b) != first {
			t.Fatalf("round %d differs:\n%s\nround 0:\n%s", round, b, first)
		}
	}
}

func ptrs(cs []Cluster) []*Cluster {
	out := make([]*Cluster, len(cs))
	for i := range cs {
		out[i] = &cs[i]
	}
	return out
}
