//go:build linux

// Command load is CastRay's load test: it starts the built daemon on
// loopback (binaries from -bin / $CASTRAY_BIN_DIR, with an API token, so
// that every request and /ws handshake goes through auth and the browser
// guard as the web UI's do), opens -clients WebSocket clients to /ws
// (subprotocols castray.v1 and castray.token.<token>, the daemon's own
// Origin), drives -rate requests per second of a mix of API reads and
// writes (see theMix) for -duration, and reports request latency
// (p50/p99/max, per route too), errors by kind, WebSocket clients dropped,
// event delivery latency (arrival minus the daemon's "ts" stamp) and the
// daemon's goroutines, open fds and RSS before the load, after it and after
// a settle with every client gone.
//
// In the middle of the load it checks the README's promise on slow
// clients: one more client stops reading while bursts of broadcast
// messages are published, and must be closed with code 1008 once it is
// events.client_buffer events behind, without the queued backlog.
//
// It exits 1 when a check fails (a request error, a reading client
// dropped or missing events, the slow client not closed with 1008,
// goroutines or fds not back near their level before the load), 2 when
// the test could not run. `make soak` (e2e/soak.sh) runs it;
// `go run ./e2e/load -clients 50 -rate 100 -duration 5s` is a short run.
// Linux only: it raises RLIMIT_NOFILE and reads /proc.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/castray/castray/e2e/progkit"
)

type options struct {
	binDir       string
	clients      int
	rate         int
	duration     time.Duration
	settle       time.Duration
	clientBuffer int
	baseNodes    int
	maxInFlight  int
	slowCheck    bool
	token        bool
	leakTol      int
	daemonLog    string
}

func main() { os.Exit(run()) }

func run() int {
	var o options
	flag.StringVar(&o.binDir, "bin", os.Getenv("CASTRAY_BIN_DIR"), "directory holding castray and plugins/ (default $CASTRAY_BIN_DIR, else ./bin)")
	flag.IntVar(&o.clients, "clients", 1000, "WebSocket clients that keep reading")
	flag.IntVar(&o.rate, "rate", 1000, "API requests per second")
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "how long the load runs")
	flag.DurationVar(&o.settle, "settle", 30*time.Second, "how long to wait, at most, for goroutines and fds to come back after the clients left")
	flag.IntVar(&o.clientBuffer, "client-buffer", 256, "events.client_buffer of the daemon")
	flag.IntVar(&o.baseNodes, "base-nodes", 100, "local nodes created before the load (message recipients; a broadcast reaches each)")
	flag.IntVar(&o.maxInFlight, "max-inflight", 1000, "requests in flight at most; a request due while this many are in flight is counted as not started")
	flag.BoolVar(&o.slowCheck, "slow-check", true, "check that a client that stops reading is closed with 1008")
	flag.BoolVar(&o.token, "token", true, "run the daemon with an API token (web_server.api_token)")
	flag.IntVar(&o.leakTol, "leak-tolerance", 20, "goroutines and fds allowed above their level before the load, after the settle")
	flag.StringVar(&o.daemonLog, "daemon-log", "", "also write the daemon's output to this file")
	flag.Parse()
	if o.binDir == "" {
		o.binDir = "bin"
	}
	abs, err := filepath.Abs(o.binDir)
	if err != nil {
		return fail(err)
	}
	o.binDir = abs
	if _, err := os.Stat(filepath.Join(o.binDir, "castray")); err != nil {
		return fail(fmt.Errorf("%v (run `make build` first, or set -bin)", err))
	}
	if o.clients < 1 || o.rate < 1 || o.duration <= 0 || o.baseNodes < 2 || o.clientBuffer < 1 {
		return fail(fmt.Errorf("-clients, -rate, -client-buffer must be >= 1, -base-nodes >= 2, -duration > 0"))
	}
	if err := raiseNoFile(2*o.clients + 4*o.maxInFlight + 1024); err != nil {
		return fail(err)
	}

	ctx, stop := progkit.SignalContext(logf)
	defer stop()

	root, err := os.MkdirTemp("", "castray-load-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(root)

	res, err := runLoad(ctx, o, root)
	if err != nil {
		return fail(err)
	}
	res.print(os.Stdout, o)
	if !res.ok() {
		return 1
	}
	return 0
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, "load:", err)
	return 2
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "load: "+format+"\n", args...)
}

// raiseNoFile lifts the soft RLIMIT_NOFILE to at least want (up to the
// hard limit): the clients' sockets are this process's files, and the
// daemon, started after, inherits the limit for its side of them.
func raiseNoFile(want int) error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	if rl.Cur >= uint64(want) {
		return nil
	}
	rl.Cur = min(rl.Max, uint64(want))
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return fmt.Errorf("setrlimit(NOFILE, %d): %w", rl.Cur, err)
	}
	if rl.Cur < uint64(want) {
		logf("RLIMIT_NOFILE hard limit is %d, below the %d this run may use", rl.Max, want)
	}
	return nil
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// runLoad is the whole run; it returns an error only when the test could
// not be carried out.
func runLoad(ctx context.Context, o options, root string) (*result, error) {
	d, err := startDaemon(o, root)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := d.stop(); err != nil {
			logf("%v", err)
		}
	}()
	plain := &http.Client{Timeout: 10 * time.Second}
	if err := d.waitReady(ctx, plain, 30*time.Second); err != nil {
		return nil, err
	}
	logf("daemon pid %d on %s (token %v, events.client_buffer %d)", d.Cmd.Process.Pid, d.url, d.token != "", o.clientBuffer)

	base := make([]string, o.baseNodes)
	g := newGenerator(d, base)
	for i := range base {
		base[i] = fmt.Sprintf("load-base-%03d", i)
		code, raw, err := g.do(ctx, "POST", "/api/nodes", fmt.Appendf(nil, `{"node_id":%q,"port":%d}`, base[i], 10000+i))
		if err != nil || code != 201 {
			return nil, fmt.Errorf("create %s: %d %v %s", base[i], code, err, raw)
		}
	}
	time.Sleep(2 * time.Second)
	r := &result{o: o}
	if r.before, err = d.figures(ctx, plain); err != nil {
		return nil, err
	}
	logf("before: %s", r.before)

	t0 := time.Now()
	clients, err := dialAll(ctx, d, o.clients, 50)
	if err != nil {
		return nil, err
	}
	var slow *wsClient
	if o.slowCheck {
		if slow, err = dialWS(ctx, d, -1, 4<<10); err != nil {
			return nil, fmt.Errorf("slow client: %w", err)
		}
	}
	logf("%d /ws clients connected in %s", len(clients)+btoi(slow != nil), time.Since(t0).Round(time.Millisecond))
	r.dialTime = time.Since(t0)

	since := time.Now()
	for _, c := range clients {
		go c.read(since)
	}
	if slow != nil {
		go slow.read(since)
	}
	if r.connected, err = d.figures(ctx, plain); err != nil {
		return nil, err
	}
	logf("connected: %s", r.connected)

	loadCtx, cancelLoad := context.WithCancel(ctx)
	defer cancelLoad()
	slowDone := make(chan slowResult, 1)
	go func() {
		if slow == nil {
			slowDone <- slowResult{skipped: true}
			return
		}
		select {
		case <-time.After(o.duration / 3):
		case <-loadCtx.Done():
			slowDone <- slowResult{err: loadCtx.Err()}
			return
		}
		slowDone <- checkSlow(loadCtx, o, g, clients, slow)
	}()
	logf("load: %d req/s for %s", o.rate, o.duration)
	start := time.Now()
	g.run(loadCtx, o.rate, o.duration, o.maxInFlight)
	r.loadTime = time.Since(start)
	r.slow = <-slowDone
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	logf("load done in %s; %d requests", r.loadTime.Round(time.Millisecond), g.sent)

	// Let the last events reach everyone, then look.
	waitCaughtUp(clients, 10*time.Second)
	if r.afterLoad, err = d.figures(ctx, plain); err != nil {
		return nil, err
	}
	logf("after load: %s", r.afterLoad)
	r.gen = g
	r.collectWS(clients)

	for _, c := range clients {
		if c.alive() {
			c.close()
		}
	}
	r.collectLatencies(clients)
	g.client.CloseIdleConnections()
	plain.CloseIdleConnections()
	deadline := time.Now().Add(o.settle)
	for {
		time.Sleep(time.Second)
		if r.afterSettle, err = d.figures(ctx, plain); err != nil {
			return nil, err
		}
		plain.CloseIdleConnections()
		if r.settled(o) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
	}
	r.settleTime = time.Since(deadline.Add(-o.settle))
	logf("after settle (%s): %s", r.settleTime.Round(time.Second), r.afterSettle)
	if d.Exited() {
		return nil, fmt.Errorf("the daemon exited during the test: %v\n%s", d.ExitErr, d.Log)
	}
	return r, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (c *wsClient) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// waitCaughtUp waits until every live reading client has as many events
// as the one with the most (they all subscribed before the load began).
func waitCaughtUp(clients []*wsClient, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		lo, hi := int64(-1), int64(0)
		for _, c := range clients {
			if !c.alive() {
				continue
			}
			n := c.counts.Load()
			hi = max(hi, n)
			if lo < 0 || n < lo {
				lo = n
			}
		}
		if lo >= hi {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// slowResult is what the slow-client check saw.
type slowResult struct {
	skipped  bool
	err      error
	stalled  int64         // events published while it did not read (seen by a reading client)
	got      int64         // events it read after it stopped reading
	code     int           // close code it got (0: none)
	stall    time.Duration // how long it did not read
	bursts   int           // broadcasts sent during the stall
	recvErr  string
	dropSeen int // castray_websocket_dropped_total after
}

// checkSlow stops the slow client's reading, publishes bursts (a text
// broadcast of 4 KiB to every active node: one message_received per node)
// until a reading client has seen twice client_buffer + what the sockets
// hold since, letting the reading clients catch up between bursts (1 s at
// most), and reads again: the daemon
// must have closed it with 1008, and what it still reads (what the
// sockets held) plus client_buffer must not exceed what was published.
// The stall stays under the daemon's 10 s write timeout, after which a
// client that reads nothing is cut without a close frame (README).
func checkSlow(ctx context.Context, o options, g *generator, clients []*wsClient, slow *wsClient) slowResult {
	ref := clients[0]
	resume := make(chan struct{})
	slow.pause <- resume
	time.Sleep(50 * time.Millisecond) // the reader takes the pause after its current message
	refAt, slowAt := ref.total.Load(), slow.total.Load()
	start := time.Now()
	var res slowResult
	// The sockets hold about 512 KiB on the daemon's side (it asks for
	// 256 KiB, Linux doubles it) and 8 KiB on the slow client's; messages
	// of 4 KiB fill them with about 130 events, then client_buffer more
	// must overflow. Publish twice that, under the daemon's 10 s write
	// timeout.
	content := strings.Repeat("x", 4<<10)
	body := fmt.Appendf(nil, `{"cast_type":"broadcast","message_type":"text","content":"slow-client check %s","sender":"load"}`, content)
	want := int64(2 * (o.clientBuffer + 140))
	for ref.total.Load()-refAt < want && time.Since(start) < 7*time.Second && ctx.Err() == nil {
		code, raw, err := g.do(ctx, "POST", "/api/send", body)
		if err != nil || code != 200 {
			res.err = fmt.Errorf("broadcast: %d %v %.200s", code, err, raw)
			break
		}
		res.bursts++
		waitCaughtUp(clients, time.Second)
	}
	res.stalled = ref.total.Load() - refAt
	res.stall = time.Since(start)
	close(resume)
	select {
	case <-slow.done:
	case <-time.After(15 * time.Second):
		slow.close()
		<-slow.done
		res.recvErr = "still open 15 s after it read again"
	}
	res.got = slow.total.Load() - slowAt
	res.code = closeCode(slow.err)
	if res.recvErr == "" && slow.err != nil {
		res.recvErr = slow.err.Error()
	}
	logf("slow client: stalled %s over %d events (%d bursts), then read %d events and %q",
		res.stall.Round(time.Millisecond), res.stalled, res.bursts, res.got, res.recvErr)
	return res
}
