//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// op is one kind of request of the mix, with its weight (per mille).
type op struct {
	name   string
	weight int
	// req builds the request; ok is the status it must answer.
	req func(g *generator) (method, path string, body []byte, ok int)
}

// theMix is what a UI and a few scripts do to a daemon: mostly reads of
// nodes, clusters, files, transfers and health, and 6.5 % writes — local
// nodes created and deleted (node_added / node_removed to every /ws client),
// a text message to two nodes (message_received, one per recipient), and
// groups created and deleted (no event).
var theMix = []op{
	{"GET /api/nodes", 265, func(*generator) (string, string, []byte, int) { return "GET", "/api/nodes", nil, 200 }},
	{"GET /api/nodes/{id}", 50, func(*generator) (string, string, []byte, int) { return "GET", "/api/nodes/node_1", nil, 200 }},
	{"GET /api/clusters", 100, func(*generator) (string, string, []byte, int) { return "GET", "/api/clusters", nil, 200 }},
	{"GET /api/files", 100, func(*generator) (string, string, []byte, int) { return "GET", "/api/files", nil, 200 }},
	{"GET /api/transfers", 100, func(*generator) (string, string, []byte, int) {
		return "GET", "/api/transfers?limit=50", nil, 200
	}},
	{"GET /healthz", 100, func(*generator) (string, string, []byte, int) { return "GET", "/healthz", nil, 200 }},
	{"GET /api/status", 100, func(*generator) (string, string, []byte, int) { return "GET", "/api/status", nil, 200 }},
	{"GET /api/groups", 50, func(*generator) (string, string, []byte, int) { return "GET", "/api/groups", nil, 200 }},
	{"GET /api/cluster/external-info", 65, func(*generator) (string, string, []byte, int) {
		return "GET", "/api/cluster/external-info", nil, 200
	}},
	{"POST /api/nodes", 25, func(g *generator) (string, string, []byte, int) {
		id := g.newNode()
		return "POST", "/api/nodes", fmt.Appendf(nil, `{"node_id":%q,"port":%d}`, id, 20000+g.seq.Load()%10000), 201
	}},
	{"DELETE /api/nodes/{id}", 25, func(g *generator) (string, string, []byte, int) {
		id := g.takeNode()
		if id == "" { // nothing to delete yet: create instead
			id = g.newNode()
			return "POST", "/api/nodes", fmt.Appendf(nil, `{"node_id":%q,"port":%d}`, id, 20000+g.seq.Load()%10000), 201
		}
		return "DELETE", "/api/nodes/" + id + "?purge=true", nil, 200
	}},
	{"POST /api/send", 10, func(g *generator) (string, string, []byte, int) {
		a, b := g.base[rand.IntN(len(g.base))], g.base[rand.IntN(len(g.base))]
		for b == a {
			b = g.base[rand.IntN(len(g.base))]
		}
		return "POST", "/api/send", fmt.Appendf(nil, `{"cast_type":"multicast","message_type":"text","content":"load %d","sender":"load","recipients":[%q,%q]}`, g.seq.Add(1), a, b), 200
	}},
	{"POST /api/groups", 5, func(g *generator) (string, string, []byte, int) {
		name := g.newGroup()
		return "POST", "/api/groups", fmt.Appendf(nil, `{"name":%q,"members":[%q]}`, name, g.base[0]), 201
	}},
	{"DELETE /api/groups/{name}", 5, func(g *generator) (string, string, []byte, int) {
		name := g.takeGroup()
		if name == "" {
			name = g.newGroup()
			return "POST", "/api/groups", fmt.Appendf(nil, `{"name":%q,"members":[%q]}`, name, g.base[0]), 201
		}
		return "DELETE", "/api/groups/" + name, nil, 200
	}},
}

// generator sends the mix at a fixed rate (open loop: a request is started
// at its time whatever the previous ones are doing, up to maxInFlight).
type generator struct {
	d      *daemon
	client *http.Client
	base   []string // local nodes that stay (message recipients)
	seq    atomic.Int64

	mu     sync.Mutex
	nodes  []string // created and not yet deleted
	groups []string
	lat    map[string][]time.Duration // by op name
	errs   map[string]int             // by kind
	sent   int
	late   int // not started because maxInFlight requests were in flight
}

func newGenerator(d *daemon, base []string) *generator {
	return &generator{
		d: d, base: base, lat: map[string][]time.Duration{}, errs: map[string]int{},
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: 30 * time.Second,
			DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		}},
	}
}

func (g *generator) newNode() string {
	return fmt.Sprintf("load-n-%d-%d", os.Getpid(), g.seq.Add(1))
}

// takeNode returns a created node to delete, "" when none.
func (g *generator) takeNode() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.nodes) == 0 {
		return ""
	}
	id := g.nodes[0]
	g.nodes = g.nodes[1:]
	return id
}

func (g *generator) newGroup() string { return fmt.Sprintf("load-g-%d", g.seq.Add(1)) }

func (g *generator) takeGroup() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.groups) == 0 {
		return ""
	}
	n := g.groups[0]
	g.groups = g.groups[1:]
	return n
}

// do sends one request and returns its status (0: transport error).
func (g *generator) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.d.url+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", g.d.url) // as the web UI sends it
	}
	if g.d.token != "" {
		req.Header.Set("Authorization", "Bearer "+g.d.token)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// one sends one request of the mix and records it.
func (g *generator) one(ctx context.Context, o op) {
	method, path, body, ok := o.req(g)
	start := time.Now()
	code, raw, err := g.do(ctx, method, path, body)
	took := time.Since(start)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sent++
	g.lat[o.name] = append(g.lat[o.name], took)
	switch {
	case err != nil && ctx.Err() != nil:
		g.errs["cancelled at the end"]++
	case err != nil:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			g.errs["timeout (10 s)"]++
		} else {
			g.errs["transport: "+shortErr(err)]++
		}
	case code != ok:
		g.errs[fmt.Sprintf("%s: HTTP %d (want %d): %.120s", o.name, code, ok, bytes.TrimSpace(raw))]++
	default:
		switch {
		case method == "POST" && path == "/api/nodes":
			g.nodes = append(g.nodes, jsonField(body, "node_id"))
		case method == "POST" && path == "/api/groups":
			g.groups = append(g.groups, jsonField(body, "name"))
		}
	}
}

// jsonField is the string value of key in one of the bodies above.
func jsonField(body []byte, key string) string { return field(body, `"`+key+`":"`) }

func shortErr(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Op + ": " + oe.Err.Error()
	}
	s := err.Error()
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}

// run sends rate requests per second for dur.
func (g *generator) run(ctx context.Context, rate int, dur time.Duration, maxInFlight int) {
	total := int(float64(rate) * dur.Seconds())
	cum := make([]int, len(theMix))
	sum := 0
	for i, o := range theMix {
		sum += o.weight
		cum[i] = sum
	}
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	for i := 0; i < total && ctx.Err() == nil; i++ {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		r := rand.IntN(sum)
		k := sort.SearchInts(cum, r+1)
		select {
		case sem <- struct{}{}:
		default:
			g.mu.Lock()
			g.late++
			g.mu.Unlock()
			continue
		}
		wg.Add(1)
		go func(o op) {
			defer wg.Done()
			defer func() { <-sem }()
			g.one(ctx, o)
		}(theMix[k])
	}
	wg.Wait()
}
