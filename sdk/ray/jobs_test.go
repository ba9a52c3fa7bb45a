package ray

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const jobsToken = "jobs-secret-token-0123456789"

func liveJobs(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "live-2.60.0", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeJobs is a Jobs API that answers with Ray 2.60's captured answers and
// records what it was sent.
type fakeJobs struct {
	t  *testing.T
	mu sync.Mutex
	// submitted holds the decoded bodies of POST /api/jobs/.
	submitted []map[string]any
	jobs      map[string]string // submission id → fixture of GET
	agents    []string
}

func newFakeJobs(t *testing.T) (*fakeJobs, *httptest.Server) {
	f := &fakeJobs{t: t, jobs: map[string]string{"castray-t1": "api_jobs_get_running.json", "castray-probe1": "api_jobs_get_failed.json"}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeJobs) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.agents = append(f.agents, r.UserAgent())
	if r.Header.Get("Authorization") != "Bearer "+jobsToken {
		w.WriteHeader(401)
		w.Write(liveJobs(f.t, "api_jobs_get_401.body"))
		return
	}
	p := r.URL.Path
	id, rest, _ := strings.Cut(strings.TrimPrefix(p, "/api/jobs/"), "/")
	switch {
	case r.Method == "POST" && p == "/api/jobs/":
		body, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(400)
			return
		}
		f.submitted = append(f.submitted, m)
		if _, dup := f.jobs[m["submission_id"].(string)]; dup {
			w.WriteHeader(500)
			w.Write(liveJobs(f.t, "api_jobs_submit_exists_500.body"))
			return
		}
		f.jobs[m["submission_id"].(string)] = "api_jobs_get_running.json"
		w.Write(liveJobs(f.t, "api_jobs_submit.json"))
	case f.jobs[id] == "":
		w.WriteHeader(404)
		w.Write(liveJobs(f.t, "api_jobs_get_404.body"))
	case r.Method == "GET" && rest == "":
		w.Write(liveJobs(f.t, f.jobs[id]))
	case r.Method == "GET" && rest == "logs":
		w.Write(liveJobs(f.t, "api_jobs_logs.json"))
	case r.Method == "POST" && rest == "stop":
		if f.jobs[id] == "api_jobs_get_stopped.json" {
			w.Write(liveJobs(f.t, "api_jobs_stop_terminal.json"))
			return
		}
		f.jobs[id] = "api_jobs_get_stopped.json"
		w.Write(liveJobs(f.t, "api_jobs_stop.json"))
	case r.Method == "DELETE" && rest == "":
		delete(f.jobs, id)
		w.Write(liveJobs(f.t, "api_jobs_delete.json"))
	default:
		w.WriteHeader(405)
	}
}

func TestJobsLifecycleAgainstLiveAnswers(t *testing.T) {
	ctx := context.Background()
	f, srv := newFakeJobs(t)
	d, err := NewDashboard(srv.URL, jobsToken, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	id, err := d.SubmitJob(ctx, JobSubmission{Entrypoint: "echo hi", SubmissionID: "castray-x",
		RuntimeEnv: map[string]any{"env_vars": map[string]string{"A": "1"}}, Metadata: map[string]string{"castray_transfer": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	// The fixture's answer names castray-t1 (the captured submission).
	if id != "castray-t1" {
		t.Errorf("submission id %q", id)
	}
	sub := f.submitted[0]
	if sub["entrypoint"] != "echo hi" || sub["submission_id"] != "castray-x" ||
		sub["runtime_env"].(map[string]any)["env_vars"].(map[string]any)["A"] != "1" ||
		sub["metadata"].(map[string]any)["castray_transfer"] != "x" {
		t.Errorf("submitted %v", sub)
	}
	if _, err := d.SubmitJob(ctx, JobSubmission{Entrypoint: "true", SubmissionID: "castray-x"}); !errors.Is(err, ErrJobExists) ||
		!strings.Contains(err.Error(), "already exists") || strings.Contains(err.Error(), "Traceback") {
		t.Errorf("duplicate submit: %v", err)
	}

	j, err := d.Job(ctx, "castray-t1")
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != JobPending || j.Terminal() || j.JobID != "" || j.EndTime != 0 || j.DriverExitCode != nil ||
		j.Metadata["castray_transfer"] != "t1" || j.ErrorType != "" {
		t.Errorf("running job %+v", j)
	}
	if ok, err := d.StopJob(ctx, "castray-t1"); err != nil || !ok {
		t.Errorf("stop: %v %v", ok, err)
	}
	if ok, err := d.StopJob(ctx, "castray-t1"); err != nil || ok {
		t.Errorf("second stop: %v %v, want false", ok, err)
	}
	j, err = d.Job(ctx, "castray-t1")
	if err != nil || j.Status != JobStopped || !j.Terminal() || j.EndTime == 0 || j.DriverNodeID == "" {
		t.Errorf("stopped job %+v %v", j, err)
	}
	logs, err := d.JobLogs(ctx, "castray-t1")
	if err != nil || !strings.Contains(logs, "CASTRAY_RESULT") {
		t.Errorf("logs %q %v", logs, err)
	}
	failed, err := d.Job(ctx, "castray-probe1")
	if err != nil || failed.Status != JobFailed || failed.DriverExitCode == nil || *failed.DriverExitCode != 1 ||
		failed.ErrorType != "JOB_ENTRYPOINT_COMMAND_ERROR" || !strings.Contains(failed.Message, "exit code 1") {
		t.Errorf("failed job %+v %v", failed, err)
	}
	if ok, err := d.DeleteJob(ctx, "castray-t1"); err != nil || !ok {
		t.Errorf("delete: %v %v", ok, err)
	}
	for _, call := range []func() error{
		func() error { _, err := d.Job(ctx, "castray-t1"); return err },
		func() error { _, err := d.StopJob(ctx, "castray-t1"); return err },
		func() error { _, err := d.JobLogs(ctx, "castray-t1"); return err },
	} {
		if err := call(); !errors.Is(err, ErrNotFound) {
			t.Errorf("after delete: %v, want ErrNotFound", err)
		}
	}
	for _, ua := range f.agents {
		if strings.Contains(ua, "Mozilla") || !strings.HasPrefix(ua, "castray/") {
			t.Errorf("user agent %q", ua)
		}
	}
}

func TestJobsTokenNeverInErrors(t *testing.T) {
	_, srv := newFakeJobs(t)
	for _, tok := range []string{"", "wrong-token-value-xyz"} {
		d, _ := NewDashboard(srv.URL, tok, 5*time.Second)
		_, err := d.Job(context.Background(), "castray-t1")
		if !errors.Is(err, ErrAuth) {
			t.Errorf("token %q: %v, want ErrAuth", tok, err)
		}
		if tok != "" && strings.Contains(err.Error(), tok) {
			t.Fatal("token in error")
		}
	}
}

func TestDecodeJobInfoLiveFixtures(t *testing.T) {
	for _, tc := range []struct {
		file, status string
		terminal     bool
	}{
		{"api_jobs_get_running.json", JobPending, false},
		{"api_jobs_get_stopped.json", JobStopped, true},
		{"api_jobs_get_failed.json", JobFailed, true},
	} {
		j, err := DecodeJobInfo(liveJobs(t, tc.file))
		if err != nil || j.Status != tc.status || j.Terminal() != tc.terminal || j.SubmissionID == "" || j.Type != "SUBMISSION" {
			t.Errorf("%s: %+v %v", tc.file, j, err)
		}
	}
	for _, bad := range []string{"", "{}", "[]", `{"status": 3}`, "null"} {
		if _, err := DecodeJobInfo([]byte(bad)); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
	if _, err := DecodeJobSubmitted([]byte(`{"job_id": null}`)); err == nil {
		t.Error("submit answer without id accepted")
	}
}

// Right after a head starts its dashboard refuses jobs with a 500 "No
// available agent to submit job" (seen live on Ray 2.60): SubmitJob tries
// again until the agent is there, and gives up with that error when it
// never comes; any other failure is not retried.
func TestSubmitJobWaitsForTheJobAgent(t *testing.T) {
	var calls atomic.Int32
	failFirst := int32(2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n := calls.Add(1); {
		case r.URL.Path != "/api/jobs/":
			http.NotFound(w, r)
		case n <= failFirst || failFirst < 0:
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "Traceback (most recent call last):\n  ...\nRuntimeError: No available agent to submit job, please try again later.\n")
		default:
			_, _ = io.WriteString(w, `{"submission_id": "castray-a", "job_id": null}`)
		}
	}))
	defer srv.Close()
	d, err := NewDashboard(srv.URL, "", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	d.agentWait = 2 * time.Second
	id, err := d.SubmitJob(context.Background(), JobSubmission{Entrypoint: "true", SubmissionID: "castray-a"})
	if err != nil || id != "castray-a" || calls.Load() != 3 {
		t.Fatalf("SubmitJob = %q, %v after %d calls; want castray-a after 3", id, err, calls.Load())
	}

	calls.Store(0)
	failFirst = -1 // the agent never comes
	d.agentWait = 200 * time.Millisecond
	if _, err := d.SubmitJob(context.Background(), JobSubmission{Entrypoint: "true", SubmissionID: "castray-b"}); err == nil ||
		!strings.Contains(err.Error(), noAgentYet) || calls.Load() < 2 {
		t.Errorf("no agent ever: %v after %d calls", err, calls.Load())
	}
}
