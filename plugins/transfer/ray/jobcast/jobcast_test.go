package jobcast

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/plugintest"
	"github.com/castray/castray/sdk/ray"
	"github.com/castray/castray/sdk/raytoken"
)

const nodeA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
const nodeB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

// fakeJobs is a Jobs API whose "driver" is Go: on submit it reads
// its settings from the job's metadata, pulls the file from the plugin's server the way
// driver.py does, and reports; behaviour knobs pick what goes wrong.
type fakeJobs struct {
	mu       sync.Mutex
	jobs     map[string]*fakeJob
	submits  []ray.JobSubmission
	stops    int
	got      map[string][]byte // target id → bytes the driver fetched
	noReach  bool              // the driver cannot reach the server
	failNode string            // this target fails
	hold     chan struct{}     // when set, the job stays RUNNING after its results until closed
}

type fakeJob struct {
	info ray.JobInfo
	logs string
}

func (f *fakeJobs) SubmitJob(ctx context.Context, s ray.JobSubmission) (string, error) {
	f.mu.Lock()
	if _, dup := f.jobs[s.SubmissionID]; dup {
		f.mu.Unlock()
		return "", ray.ErrJobExists
	}
	j := &fakeJob{info: ray.JobInfo{SubmissionID: s.SubmissionID, Status: ray.JobRunning}}
	f.jobs[s.SubmissionID] = j
	f.submits = append(f.submits, s)
	f.mu.Unlock()
	go f.drive(j, s)
	return s.SubmissionID, nil
}

func (f *fakeJobs) drive(j *fakeJob, s ray.JobSubmission) {
	var cfg driverConfig
	_ = json.Unmarshal([]byte(s.Metadata[MetaConfig]), &cfg)
	end := func(status, logs string) {
		f.mu.Lock()
		j.info.Status, j.logs = status, j.logs+logs
		f.mu.Unlock()
	}
	call := func(method, path string, body any, hdr map[string]string) (*http.Response, []byte, error) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		u := cfg.URL
		if f.noReach {
			u = "http://127.0.0.1:1/s/x"
		}
		req, _ := http.NewRequest(method, u+path, rd)
		req.Header.Set("Authorization", "Bearer "+cfg.Token)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b, nil
	}
	if _, _, err := call("POST", "/hello", map[string]any{}, nil); err != nil {
		end(ray.JobFailed, `CASTRAY_FATAL {"error": "cannot reach: `+err.Error()+`", "unreachable": true}`+"\n")
		return
	}
	var data []byte
	for off := uint64(0); off < cfg.Size; off += cfg.ChunkSize {
		hi := min(off+cfg.ChunkSize, cfg.Size) - 1
		resp, b, err := call("GET", "/file", nil, map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", off, hi)})
		if err != nil || resp.StatusCode != 206 {
			end(ray.JobFailed, "read failed\n")
			return
		}
		data = append(data, b...)
		prog := map[string]uint64{}
		for _, t := range cfg.Targets {
			prog[t.ID] = hi + 1
		}
		call("POST", "/progress", map[string]any{"progress": prog}, nil)
	}
	sum := sha256.Sum256(data)
	var logs string
	for _, t := range cfg.Targets {
		r := driverResult{ID: t.ID, State: "done", Bytes: uint64(len(data)), SHA256: hex.EncodeToString(sum[:]),
			Location: "node " + t.RayNodeID + ":" + strings.ReplaceAll(t.Template, "{node_id}", t.RayNodeID) + "/" + cfg.Name}
		if t.ID == f.failNode {
			r = driverResult{ID: t.ID, State: "failed", Error: "ActorDiedError: node died"}
		}
		b, _ := json.Marshal(r)
		logs += "CASTRAY_RESULT " + string(b) + "\n"
		f.mu.Lock()
		f.got[t.ID] = data
		f.mu.Unlock()
		call("POST", "/result", r, nil)
	}
	if f.hold != nil {
		<-f.hold
	}
	end(ray.JobSucceeded, logs)
}

func (f *fakeJobs) Job(_ context.Context, id string) (ray.JobInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if j := f.jobs[id]; j != nil {
		return j.info, nil
	}
	return ray.JobInfo{}, ray.ErrNotFound
}

func (f *fakeJobs) StopJob(_ context.Context, id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stops++
	if j := f.jobs[id]; j != nil && !j.info.Terminal() {
		j.info.Status = ray.JobStopped
		return true, nil
	}
	return false, nil
}

func (f *fakeJobs) JobLogs(_ context.Context, id string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if j := f.jobs[id]; j != nil {
		return j.logs, nil
	}
	return "", ray.ErrNotFound
}

type rec struct {
	mu      sync.Mutex
	results map[string]*sdk.TargetResult
	prog    int
}

func (r *rec) Progress(*sdk.TargetProgress) error { r.mu.Lock(); r.prog++; r.mu.Unlock(); return nil }
func (r *rec) Result(x *sdk.TargetResult) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.results == nil {
		r.results = map[string]*sdk.TargetResult{}
	}
	r.results[x.NodeId] = x
	return nil
}

func newTest(t *testing.T) (*Backend, *fakeJobs, sdk.Transferer) {
	b := New(hclog.NewNullLogger())
	f := &fakeJobs{jobs: map[string]*fakeJob{}, got: map[string][]byte{}}
	b.dial = func(string, string, time.Duration) (jobsAPI, error) { return f, nil }
	b.findToken = func(string) (raytoken.Token, error) { return raytoken.Token{}, nil }
	b.Config.PollIntervalMS = 50
	t.Cleanup(b.Close)
	return b, f, plugintest.Transfer(t, b)
}

func file(t *testing.T, size int) *sdk.FileSpec {
	data := bytes.Repeat([]byte("castray!"), size/8)
	p := filepath.Join(t.TempDir(), "f.bin")
	os.WriteFile(p, data, 0o600)
	sum := sha256.Sum256(data)
	return &sdk.FileSpec{Path: p, Size: uint64(len(data)), Sha256: hex.EncodeToString(sum[:]), Name: "f.bin", ChunkSize: 1 << 16}
}

func target(node, dash string) *sdk.Target {
	a := map[string]string{"ray_node_id": node, "cluster_id": "c1"}
	if dash != "" {
		a["dashboard_url"] = dash
	}
	return &sdk.Target{NodeId: "ray:c1:" + node, Kind: KindNode, Attributes: a}
}

func TestSendDeliversAndReportsPerTarget(t *testing.T) {
	_, f, c := newTest(t)
	fs := file(t, 300000)
	var r rec
	sum, err := c.Send(context.Background(), &sdk.SendRequest{TransferId: "t1", File: fs, Mode: sdk.Multicast, Targets: []*sdk.Target{
		target(nodeA, "http://127.0.0.1:8265"), target(nodeB, "http://127.0.0.1:8265"), target("cccc", ""),
	}}, &r)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Succeeded != 2 || sum.Failed != 1 || len(f.submits) != 1 {
		t.Fatalf("summary %+v, %d jobs", sum, len(f.submits))
	}
	s0 := f.submits[0]
	var cfg driverConfig
	if err := json.Unmarshal([]byte(s0.Metadata[MetaConfig]), &cfg); err != nil || cfg.Token == "" {
		t.Fatalf("config in metadata: %v %+v", err, cfg)
	}
	// The driver and its settings travel in the metadata only: a runtime_env
	// would cost every writer a fresh worker, argv would show the token in ps.
	if s0.SubmissionID != "castray-t1" || !strings.Contains(s0.Entrypoint, MetaDriver) || s0.Metadata[MetaDriver] == "" ||
		s0.RuntimeEnv != nil || strings.Contains(s0.Entrypoint, cfg.Token) {
		t.Errorf("submission %s: entrypoint %q, runtime_env %v", s0.SubmissionID, s0.Entrypoint, s0.RuntimeEnv)
	}
	want, _ := os.ReadFile(fs.Path)
	f.mu.Lock()
	got := f.got["ray:c1:"+nodeA]
	f.mu.Unlock()
	if !bytes.Equal(got, want) {
		t.Error("the driver did not get the file's bytes")
	}
	if res := r.results["ray:c1:"+nodeA]; res.State != sdk.TargetDone || res.Sha256 != fs.Sha256 || res.BytesSent != fs.Size {
		t.Errorf("%v", res)
	}
	if res := r.results["ray:c1:cccc"]; res.State != sdk.TargetFailed || !strings.Contains(res.Error, "needs its dashboard") {
		t.Errorf("gcs-only target: %v", res)
	}
	if r.prog == 0 {
		t.Error("no progress")
	}
}

func TestFailedNodeFailsAlone(t *testing.T) {
	_, f, c := newTest(t)
	f.failNode = "ray:c1:" + nodeB
	var r rec
	sum, err := c.Send(context.Background(), &sdk.SendRequest{TransferId: "t2", File: file(t, 80000), Targets: []*sdk.Target{
		target(nodeA, "http://127.0.0.1:8265"), target(nodeB, "http://127.0.0.1:8265")}}, &r)
	if err != nil || sum.Succeeded != 1 || sum.Failed != 1 {
		t.Fatalf("%+v %v", sum, err)
	}
	if res := r.results["ray:c1:"+nodeB]; !strings.Contains(res.Error, "ActorDiedError") || res.Bytes != 0 {
		t.Errorf("%v", res)
	}
}

func TestUnreachableServerFailsWithConfigHint(t *testing.T) {
	_, f, c := newTest(t)
	f.noReach = true
	var r rec
	sum, err := c.Send(context.Background(), &sdk.SendRequest{TransferId: "t3", File: file(t, 8000), Targets: []*sdk.Target{target(nodeA, "http://127.0.0.1:8265")}}, &r)
	if err != nil || sum.Failed != 1 {
		t.Fatalf("%+v %v", sum, err)
	}
	if res := r.results["ray:c1:"+nodeA]; !strings.Contains(res.Error, `plugin "ray" { config { serve_address`) {
		t.Errorf("%v", res)
	}
}

func TestLoopbackServerRemoteDashboardFailsBeforeSubmitting(t *testing.T) {
	_, f, c := newTest(t)
	var r rec
	// 192.0.2.1 (TEST-NET-1) is nobody's local address.
	sum, err := c.Send(context.Background(), &sdk.SendRequest{TransferId: "t4", File: file(t, 8000), Targets: []*sdk.Target{target(nodeA, "http://192.0.2.1:8265")}}, &r)
	if err != nil || sum.Failed != 1 || len(f.submits) != 0 {
		t.Fatalf("%+v %v, %d submits", sum, err, len(f.submits))
	}
	if res := r.results["ray:c1:"+nodeA]; !strings.Contains(res.Error, "serve_address") {
		t.Errorf("%v", res)
	}
}

func TestResumeRecordsFinishedJobAndRedeliversTheRest(t *testing.T) {
	_, f, c := newTest(t)
	fs := file(t, 8000)
	done := driverResult{ID: "ray:c1:" + nodeA, State: "done", Bytes: fs.Size, SHA256: fs.Sha256, Location: "node a:/x/f.bin"}
	b, _ := json.Marshal(done)
	lie, _ := json.Marshal(driverResult{ID: "ray:c1:" + nodeB, State: "done", Bytes: 3, SHA256: "00", Location: "node b:/x"})
	f.jobs["castray-t5"] = &fakeJob{info: ray.JobInfo{SubmissionID: "castray-t5", Status: ray.JobRunning},
		logs: "CASTRAY_RESULT " + string(b) + "\nCASTRAY_RESULT " + string(lie) + "\n"}
	var r rec
	sum, err := c.Send(context.Background(), &sdk.SendRequest{TransferId: "t5", File: fs, Resume: true, Targets: []*sdk.Target{
		target(nodeA, "http://127.0.0.1:8265"), target(nodeB, "http://127.0.0.1:8265")}}, &r)
	if err != nil || sum.Succeeded != 2 {
		t.Fatalf("%+v %v", sum, err)
	}
	if f.stops == 0 || f.jobs["castray-t5"] == nil {
		t.Errorf("the running earlier job must be stopped and kept (its log is the record): %d stops, job %v", f.stops, f.jobs["castray-t5"])
	}
	// A new attempt never reuses a submission id (Ray's job manager would
	// fail it while still watching the stopped one).
	if len(f.submits) != 1 || f.submits[0].SubmissionID != "castray-t5-2" {
		t.Errorf("redelivery submitted as %+v, want castray-t5-2", f.submits)
	}
	if res := r.results["ray:c1:"+nodeA]; res.BytesReused != fs.Size || res.BytesSent != 0 || res.Location != "node a:/x/f.bin" {
		t.Errorf("kept target: %v", res)
	}
	// The earlier "done" that did not match the file is delivered again.
	if len(f.submits) != 1 || !strings.Contains(f.submits[0].Metadata[MetaConfig], nodeB) ||
		strings.Contains(f.submits[0].Metadata[MetaConfig], nodeA) {
		t.Errorf("redelivery: %+v", f.submits)
	}
}

func TestServerTokenRangeAndExpiry(t *testing.T) {
	s, err := startServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	fs := file(t, 1000)
	se := s.open(fs.Path, fs.Size, 256, nil, []string{"x"}, 0)
	base := s.baseURL("", "127.0.0.1") + "/s/" + se.id
	get := func(tok, rng string) (int, string, string) {
		req, _ := http.NewRequest("GET", base+"/file", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Range"), string(b)
	}
	if code, _, _ := get("wrong", ""); code != 401 {
		t.Errorf("bad token: %d", code)
	}
	want, _ := os.ReadFile(fs.Path)
	if code, cr, body := get(se.token, "bytes=256-511"); code != 206 || cr != "bytes 256-511/1000" || body != string(want[256:512]) {
		t.Errorf("range: %d %q", code, cr)
	}
	if code, _, _ := get(se.token, "bytes=5000-"); code != 416 {
		t.Errorf("unsatisfiable: %d", code)
	}
	s.closeSession(se)
	if code, _, _ := get(se.token, ""); code != 404 {
		t.Errorf("after the transfer: %d", code)
	}
}

func TestConfigureRejectsBadKeys(t *testing.T) {
	b := New(hclog.NewNullLogger())
	for cfg, key := range map[string]string{
		`{"window": 0}`:                           "window",
		`{"dest_template": "/data/castray"}`:      "dest_template",
		`{"dest_template": "/d/{node_id}/{x}"}`:   "dest_template",
		`{"actor_dest_template": "/d/{node_id}"}`: "actor_dest_template",
		`{"advertise_url": "http://h"}`:           "advertise_url",
		`{"python": "python; rm -rf /"}`:          "python",
		`{"serve_address": "nope"}`:               "serve_address",
		`{"verify": "size"}`:                      "verify",
		`{"fetch": "p2p"}`:                        "fetch",
	} {
		problems, err := b.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: []byte(cfg)})
		if err != nil || len(problems) != 1 || problems[0].Key != key {
			t.Errorf("%s: %v %v", cfg, problems, err)
		}
	}
	if b.Config.Window != 4 {
		t.Error("a rejected config was applied")
	}
}

// Every earlier attempt's log counts on resume: a target one attempt
// delivered stays done even when a later attempt was cut short.
func TestResumeReadsEveryEarlierAttempt(t *testing.T) {
	_, f, c := newTest(t)
	fs := file(t, 8000)
	line := func(node string) string {
		b, _ := json.Marshal(driverResult{ID: "ray:c1:" + node, State: "done", Bytes: fs.Size, SHA256: fs.Sha256, Location: "node " + node + ":/x/f.bin"})
		return "CASTRAY_RESULT " + string(b) + "\n"
	}
	f.jobs["castray-t6"] = &fakeJob{info: ray.JobInfo{SubmissionID: "castray-t6", Status: ray.JobFailed}, logs: line(nodeA)}
	f.jobs["castray-t6-2"] = &fakeJob{info: ray.JobInfo{SubmissionID: "castray-t6-2", Status: ray.JobStopped}, logs: line(nodeB)}
	var r rec
	sum, err := c.Send(context.Background(), &sdk.SendRequest{TransferId: "t6", File: fs, Resume: true, Targets: []*sdk.Target{
		target(nodeA, "http://127.0.0.1:8265"), target(nodeB, "http://127.0.0.1:8265")}}, &r)
	if err != nil || sum.Succeeded != 2 || len(f.submits) != 0 {
		t.Fatalf("summary %+v, err %v, submits %+v: want both kept from the earlier attempts, nothing submitted", sum, err, f.submits)
	}
	if r.results["ray:c1:"+nodeB].BytesReused != fs.Size {
		t.Errorf("target of attempt 2: %v", r.results["ray:c1:"+nodeB])
	}
}

// Send ends when every target has its outcome, without waiting for the
// job's exit (Ray's shutdown of the driver and a status poll).
func TestSendEndsOnLastResultWhileJobStillRuns(t *testing.T) {
	b, f, c := newTest(t)
	b.Config.PollIntervalMS = 60_000 // only the results can end the Send
	f.hold = make(chan struct{})
	defer close(f.hold)
	fs := file(t, 100000)
	var r rec
	sum, err := c.Send(context.Background(), &sdk.SendRequest{TransferId: "t7", File: fs, Targets: []*sdk.Target{
		target(nodeA, "http://127.0.0.1:8265"), target(nodeB, "http://127.0.0.1:8265")}}, &r)
	if err != nil || sum.Succeeded != 2 {
		t.Fatalf("summary %+v, err %v", sum, err)
	}
	if j, _ := f.Job(context.Background(), "castray-t7"); j.Status != ray.JobRunning {
		t.Errorf("job %s: the Send should have ended while it still ran", j.Status)
	}
}

// verify and fetch reach the driver's config.
func TestVerifyAndFetchReachTheDriver(t *testing.T) {
	b, f, c := newTest(t)
	problems, err := b.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: []byte(`{"verify": "written", "fetch": "direct"}`)})
	if err != nil || problems != nil {
		t.Fatalf("%v %v", problems, err)
	}
	b.Config.PollIntervalMS = 50
	var r rec
	if _, err := c.Send(context.Background(), &sdk.SendRequest{TransferId: "t8", File: file(t, 8000), Targets: []*sdk.Target{
		target(nodeA, "http://127.0.0.1:8265")}}, &r); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var cfg driverConfig
	if err := json.Unmarshal([]byte(f.submits[0].Metadata[MetaConfig]), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Verify != VerifyWritten || cfg.Fetch != FetchDirect {
		t.Errorf("driver config verify=%q fetch=%q", cfg.Verify, cfg.Fetch)
	}
}

// The driver learns the stored file's identity (to read it from disk when it
// runs on this machine) unless local_read is off or max_rate needs the file
// server.
func TestSourceIdentityReachesTheDriver(t *testing.T) {
	for _, tc := range []struct {
		config string
		local  bool
	}{{`{}`, true}, {`{"local_read": false}`, false}, {`{"max_rate": 1048576}`, false}} {
		b, f, c := newTest(t)
		if problems, err := b.Configure(context.Background(), &sdk.ConfigureRequest{ConfigJson: []byte(tc.config)}); err != nil || problems != nil {
			t.Fatalf("%s: %v %v", tc.config, problems, err)
		}
		b.Config.PollIntervalMS = 50
		fs := file(t, 8000)
		if _, err := c.Send(context.Background(), &sdk.SendRequest{TransferId: "t9", File: fs, Targets: []*sdk.Target{
			target(nodeA, "http://127.0.0.1:8265")}}, &rec{}); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		var cfg driverConfig
		err := json.Unmarshal([]byte(f.submits[0].Metadata[MetaConfig]), &cfg)
		f.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		if !tc.local {
			if cfg.Source != nil {
				t.Errorf("%s: source %+v, want none", tc.config, cfg.Source)
			}
			continue
		}
		fi, err := os.Stat(fs.Path)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		want := sourceFile{Path: fs.Path, Dev: uint64(st.Dev), Ino: st.Ino, Size: fs.Size, MtimeNs: fi.ModTime().UnixNano()}
		if cfg.Source == nil || *cfg.Source != want {
			t.Errorf("%s: source %+v, want %+v", tc.config, cfg.Source, want)
		}
	}
}
