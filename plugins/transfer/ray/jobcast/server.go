package jobcast

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// fileServer is the plugin's HTTP server that the drivers pull the file
// from and report to. Every path is /s/<session id>/<op>; a session serves
// one file of one transfer to one job and answers only requests carrying its
// own bearer token. A closed session is gone: its token no longer works.
type fileServer struct {
	ln   net.Listener
	srv  *http.Server
	mu   sync.Mutex
	sess map[string]*session
}

func startServer(addr string) (*fileServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serve_address %q: %w", addr, err)
	}
	s := &fileServer{ln: ln, sess: map[string]*session{}}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *fileServer) addr() *net.TCPAddr { return s.ln.Addr().(*net.TCPAddr) }

func (s *fileServer) close() { _ = s.srv.Close() }

// event is what a driver reported.
type event struct {
	kind     string // "hello", "progress", "result", "fatal"
	progress map[string]uint64
	result   driverResult
	fatal    string
}

// driverResult is one CASTRAY_RESULT.
type driverResult struct {
	ID        string `json:"id"`
	State     string `json:"state"` // done, failed, cancelled
	Bytes     uint64 `json:"bytes"`
	SHA256    string `json:"sha256"`
	Location  string `json:"location"`
	Error     string `json:"error"`
	ElapsedMS uint32 `json:"elapsed_ms"`
}

// session is one job's view of the server.
type session struct {
	id, token string
	path      string
	size      uint64
	chunk     uint64
	crcs      []uint32
	targets   map[string]bool
	maxRate   int64
	events    chan event

	mu      sync.Mutex
	closed  bool
	cancel  map[string]bool
	served  uint64
	started time.Time
	bad     error // the source no longer matches its chunk digests
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}

func (s *fileServer) open(path string, size, chunk uint64, crcs []uint32, targets []string, maxRate int64) *session {
	se := &session{id: randomHex(12), token: randomHex(32), path: path, size: size, chunk: chunk, crcs: crcs,
		targets: map[string]bool{}, maxRate: maxRate, events: make(chan event, 256), cancel: map[string]bool{}}
	for _, t := range targets {
		se.targets[t] = true
	}
	s.mu.Lock()
	s.sess[se.id] = se
	s.mu.Unlock()
	return se
}

// closeSession forgets the session: its token stops working at once.
func (s *fileServer) closeSession(se *session) {
	s.mu.Lock()
	delete(s.sess, se.id)
	s.mu.Unlock()
	se.mu.Lock()
	se.closed = true
	se.mu.Unlock()
}

func (se *session) cancelTargets(ids []string) {
	se.mu.Lock()
	defer se.mu.Unlock()
	for _, id := range ids {
		if se.targets[id] {
			se.cancel[id] = true
		}
	}
}

func (s *fileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/s/")
	id, op, _ := strings.Cut(rest, "/")
	s.mu.Lock()
	se := s.sess[id]
	s.mu.Unlock()
	if !ok || se == nil {
		http.Error(w, "no such transfer (it may have ended)", http.StatusNotFound)
		return
	}
	auth, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if subtle.ConstantTimeCompare([]byte(auth), []byte(se.token)) != 1 {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	switch {
	case op == "file" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		se.serveFile(w, r)
	case r.Method == http.MethodPost && (op == "hello" || op == "progress" || op == "result" || op == "fatal"):
		se.report(w, r, op)
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
}

// parseRange reads a single "bytes=a-b" (or "a-") range of a size-byte file.
func parseRange(h string, size uint64) (lo, hi uint64, err error) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, 0, fmt.Errorf("unsupported range %q (one bytes=a-b range only)", h)
	}
	a, b, _ := strings.Cut(spec, "-")
	if lo, err = strconv.ParseUint(a, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("bad range %q", h)
	}
	hi = size - 1
	if b != "" {
		if hi, err = strconv.ParseUint(b, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("bad range %q", h)
		}
		hi = min(hi, size-1)
	}
	if size == 0 || lo > hi {
		return 0, 0, fmt.Errorf("range %q not satisfiable for %d bytes", h, size)
	}
	return lo, hi, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (se *session) serveFile(w http.ResponseWriter, r *http.Request) {
	lo, hi := uint64(0), se.size-1
	status := http.StatusOK
	if h := r.Header.Get("Range"); h != "" {
		var err error
		if lo, hi, err = parseRange(h, se.size); err != nil {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", se.size))
			http.Error(w, err.Error(), http.StatusRequestedRangeNotSatisfiable)
			return
		}
		status = http.StatusPartialContent
	}
	if se.size == 0 {
		w.WriteHeader(http.StatusOK)
		return
	}
	f, err := os.Open(se.path)
	if err != nil {
		http.Error(w, "source unreadable", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Length", strconv.FormatUint(hi-lo+1, 10))
		w.WriteHeader(status)
		return
	}
	// Chunk-aligned ranges are checked against the stored chunk digests:
	// what leaves the plugin is the stored file.
	buf := make([]byte, hi-lo+1)
	if _, err := f.ReadAt(buf, int64(lo)); err != nil && !errors.Is(err, io.EOF) {
		http.Error(w, "reading source failed", http.StatusInternalServerError)
		return
	}
	if err := se.check(lo, buf); err != nil {
		se.mu.Lock()
		se.bad = err
		se.mu.Unlock()
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	se.throttle(uint64(len(buf)))
	if status == http.StatusPartialContent {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", lo, hi, se.size))
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(buf)))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(status)
	_, _ = w.Write(buf)
}

func (se *session) check(lo uint64, buf []byte) error {
	if len(se.crcs) == 0 || lo%se.chunk != 0 {
		return nil
	}
	for off := uint64(0); off < uint64(len(buf)); off += se.chunk {
		i := (lo + off) / se.chunk
		end := min(off+se.chunk, uint64(len(buf)))
		if end-off != se.chunk && lo+end != se.size {
			return nil // a partial chunk in the middle: nothing to compare with
		}
		if got := crc32.Checksum(buf[off:end], castagnoli); i < uint64(len(se.crcs)) && got != se.crcs[i] {
			return fmt.Errorf("source changed since it was stored: chunk %d has CRC32C %08x, stored %08x", i, got, se.crcs[i])
		}
	}
	return nil
}

// throttle keeps the bytes served by the session under maxRate per second.
func (se *session) throttle(n uint64) {
	if se.maxRate <= 0 {
		return
	}
	se.mu.Lock()
	if se.started.IsZero() {
		se.started = time.Now()
	}
	se.served += n
	due := se.started.Add(time.Duration(float64(se.served) / float64(se.maxRate) * float64(time.Second)))
	se.mu.Unlock()
	if d := time.Until(due); d > 0 {
		time.Sleep(d)
	}
}

func (se *session) report(w http.ResponseWriter, r *http.Request, op string) {
	var body struct {
		Progress map[string]uint64 `json:"progress"`
		Error    string            `json:"error"`
		driverResult
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	ev := event{kind: op}
	switch op {
	case "progress":
		ev.progress = map[string]uint64{}
		for id, n := range body.Progress {
			if se.targets[id] {
				ev.progress[id] = min(n, se.size)
			}
		}
	case "result":
		if !se.targets[body.ID] {
			http.Error(w, "unknown target", http.StatusBadRequest)
			return
		}
		ev.result = body.driverResult
		ev.result.Error = body.Error
	case "fatal":
		ev.fatal = body.Error
	}
	se.mu.Lock()
	closed := se.closed
	var cancel []string
	for id := range se.cancel {
		cancel = append(cancel, id)
	}
	se.mu.Unlock()
	if closed {
		http.Error(w, "transfer ended", http.StatusGone)
		return
	}
	select {
	case se.events <- ev:
	case <-r.Context().Done():
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"cancel": cancel})
}

// advertiseURL is the base URL drivers use for the session: advertise_url
// when set, else the listener's address, with an unspecified IP replaced by
// the local address that routes toward the dashboard's host.
func (s *fileServer) baseURL(advertise, dashboardHost string) string {
	if advertise != "" {
		return strings.TrimRight(advertise, "/")
	}
	a := s.addr()
	ip := a.IP
	if ip.IsUnspecified() {
		ip = routeTo(dashboardHost)
	}
	return "http://" + net.JoinHostPort(ip.String(), strconv.Itoa(a.Port))
}

// routeTo is the local IP the kernel would use to reach host (loopback if
// that cannot be told).
func routeTo(host string) net.IP {
	c, err := net.Dial("udp", net.JoinHostPort(host, "9"))
	if err != nil {
		return net.IPv4(127, 0, 0, 1)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP
}

// reachable says whether a driver on the dashboard's machine can reach a
// server listening on the loopback address: only when the dashboard host
// is this machine (a loopback or local interface address).
func reachable(ctx context.Context, listen net.IP, advertise, dashboardHost string) error {
	if advertise != "" || !listen.IsLoopback() {
		return nil
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, dashboardHost)
	if err != nil {
		return fmt.Errorf("resolving the dashboard host %q: %w", dashboardHost, err)
	}
	local := map[string]bool{}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				local[n.IP.String()] = true
			}
		}
	}
	for _, ip := range ips {
		if !ip.IP.IsLoopback() && !local[ip.IP.String()] {
			return fmt.Errorf("the cluster's driver runs on %s, which cannot reach this plugin's file server on loopback %s; "+
				"listen where the cluster can reach it: plugin \"ray\" { config { serve_address = \"0.0.0.0:0\" } } "+
				"(add advertise_url = \"http://<address the cluster reaches>:<port>\" behind NAT)", dashboardHost, listen)
		}
	}
	return nil
}
