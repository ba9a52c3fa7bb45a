package ray

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// The Jobs API of the dashboard (Ray's "ray job submit" REST API), as
// checked against Ray 2.60.0 (fixtures in testdata/live-2.60.0/api_jobs_*):
//
//	POST   /api/jobs/             {"entrypoint", "submission_id", "runtime_env", "metadata", …}
//	                              → 200 {"job_id", "submission_id"}; a submission id already
//	                              used → 500 with a Python traceback ending in
//	                              "Job with submission_id … already exists"
//	GET    /api/jobs/{id}         → 200 JobDetails; unknown → 404 "Job … does not exist"
//	POST   /api/jobs/{id}/stop    → 200 {"stopped": bool} (false once terminal); unknown → 404
//	GET    /api/jobs/{id}/logs    → 200 {"logs": "<driver stdout+stderr>"}
//	DELETE /api/jobs/{id}         → 200 {"deleted": bool} (only a terminal job)
//
// Every request carries the Dashboard's token; without it a token-mode
// dashboard answers 401 "Unauthorized: Missing authentication token".

// Job statuses (JobDetails.status).
const (
	JobPending   = "PENDING"
	JobRunning   = "RUNNING"
	JobStopped   = "STOPPED"
	JobSucceeded = "SUCCEEDED"
	JobFailed    = "FAILED"
)

// ErrJobExists: a job with that submission id was submitted before (Ray
// never reuses one, even after the job ended; delete it first).
var ErrJobExists = errors.New("job submission id already in use")

// jobsBody bounds a Jobs API answer (the logs answer holds the driver's
// whole output; Ray keeps it in a file, so it can grow).
const jobsBody = 64 << 20

// JobSubmission is the body of POST /api/jobs/.
type JobSubmission struct {
	// Entrypoint is the shell command Ray runs on the head node.
	Entrypoint string `json:"entrypoint"`
	// SubmissionID names the job ("" lets Ray pick "raysubmit_…").
	SubmissionID string `json:"submission_id,omitempty"`
	// RuntimeEnv is Ray's runtime_env (e.g. {"env_vars": {...}}).
	RuntimeEnv map[string]any `json:"runtime_env,omitempty"`
	// Metadata is free-form string metadata shown with the job.
	Metadata map[string]string `json:"metadata,omitempty"`
	// EntrypointNumCPUs reserves CPUs for the entrypoint (0: none).
	EntrypointNumCPUs float64 `json:"entrypoint_num_cpus,omitempty"`
}

// JobInfo is GET /api/jobs/{id} (Ray's JobDetails), the fields CastRay reads.
type JobInfo struct {
	Type         string            `json:"type"`
	JobID        string            `json:"job_id"` // null until the driver connects → ""
	SubmissionID string            `json:"submission_id"`
	Status       string            `json:"status"`
	Entrypoint   string            `json:"entrypoint"`
	Message      string            `json:"message"`
	ErrorType    string            `json:"error_type"`
	StartTime    int64             `json:"start_time"` // ms since the epoch
	EndTime      int64             `json:"end_time"`   // 0 until terminal
	Metadata     map[string]string `json:"metadata"`
	DriverNodeID string            `json:"driver_node_id"`
	// DriverExitCode is the entrypoint's exit code; nil while it runs and
	// for a stopped job.
	DriverExitCode *int `json:"driver_exit_code"`
}

// Terminal reports whether the job has ended (stopped, succeeded or failed).
func (j JobInfo) Terminal() bool { return JobStatusTerminal(j.Status) }

// JobStatusTerminal reports whether status is one a job never leaves.
func JobStatusTerminal(status string) bool {
	return status == JobStopped || status == JobSucceeded || status == JobFailed
}

// SubmitJob submits a job and returns its submission id. A submission id
// used before is an error matching ErrJobExists. While the head has no job
// agent yet (just started), it tries again with backoff, for up to a
// minute or until ctx ends.
func (d *Dashboard) SubmitJob(ctx context.Context, s JobSubmission) (string, error) {
	if strings.TrimSpace(s.Entrypoint) == "" {
		return "", errors.New("submit job: empty entrypoint")
	}
	body, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("submit job: %w", err)
	}
	var raw []byte
	submit := func() error {
		raw, err = d.send(ctx, http.MethodPost, "/api/jobs/", body)
		var se *StatusError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &se) && strings.Contains(se.Message, noAgentYet):
			return err // the head's job agent is not registered yet: again
		case errors.As(err, &se) && strings.Contains(se.Message, "already exists"):
			return backoff.Permanent(fmt.Errorf("%w: submission id %q: %v", ErrJobExists, s.SubmissionID, err))
		}
		return backoff.Permanent(err)
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = d.agentWait/100, d.agentWait/10, d.agentWait
	if err := backoff.Retry(submit, backoff.WithContext(b, ctx)); err != nil {
		return "", err
	}
	return DecodeJobSubmitted(raw)
}

// noAgentYet is how the dashboard refuses a job (HTTP 500) while no
// dashboard agent has registered with it, for some seconds after a head
// starts (seen live on Ray 2.60: "No available agent to submit job, please
// try again later."). SubmitJob tries again for up to agentWait.
const noAgentYet = "No available agent to submit job"

// defaultAgentWait bounds how long SubmitJob waits for a job agent.
const defaultAgentWait = 60 * time.Second

// DecodeJobSubmitted reads the answer of POST /api/jobs/.
func DecodeJobSubmitted(body []byte) (string, error) {
	var r struct {
		SubmissionID string `json:"submission_id"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return "", fmt.Errorf("job submit answer: %w", err)
	}
	if r.SubmissionID == "" {
		return "", errors.New("job submit answer: no submission_id")
	}
	return r.SubmissionID, nil
}

// Job is GET /api/jobs/{id}; an unknown id is an error matching
// ErrNotFound.
func (d *Dashboard) Job(ctx context.Context, submissionID string) (JobInfo, error) {
	raw, err := d.send(ctx, http.MethodGet, jobPath(submissionID, ""), nil)
	if err != nil {
		return JobInfo{}, err
	}
	return DecodeJobInfo(raw)
}

// DecodeJobInfo reads a JobDetails object.
func DecodeJobInfo(body []byte) (JobInfo, error) {
	var j struct {
		JobInfo
		JobID     *string `json:"job_id"`
		Message   *string `json:"message"`
		ErrorType *string `json:"error_type"`
		EndTime   *int64  `json:"end_time"`
		DriverNID *string `json:"driver_node_id"`
	}
	if err := json.Unmarshal(body, &j); err != nil {
		return JobInfo{}, fmt.Errorf("job details: %w", err)
	}
	if j.Status == "" || j.SubmissionID == "" && j.JobID == nil {
		return JobInfo{}, errors.New("job details: no status or id")
	}
	info := j.JobInfo
	info.JobID = deref(j.JobID)
	info.Message = deref(j.Message)
	info.ErrorType = deref(j.ErrorType)
	info.DriverNodeID = deref(j.DriverNID)
	if j.EndTime != nil {
		info.EndTime = *j.EndTime
	}
	return info, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// StopJob is POST /api/jobs/{id}/stop: Ray sends the entrypoint SIGTERM,
// then SIGKILL a few seconds later. stopped is false when the job had
// already ended; an unknown id is an error matching ErrNotFound.
func (d *Dashboard) StopJob(ctx context.Context, submissionID string) (stopped bool, err error) {
	raw, err := d.send(ctx, http.MethodPost, jobPath(submissionID, "/stop"), nil)
	if err != nil {
		return false, err
	}
	var r struct {
		Stopped *bool `json:"stopped"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || r.Stopped == nil {
		return false, fmt.Errorf("job stop answer: not {\"stopped\": bool}: %s", clip(string(raw)))
	}
	return *r.Stopped, nil
}

// DeleteJob is DELETE /api/jobs/{id}: forgets a terminal job (its info and
// logs), so its submission id can be used again.
func (d *Dashboard) DeleteJob(ctx context.Context, submissionID string) (deleted bool, err error) {
	raw, err := d.send(ctx, http.MethodDelete, jobPath(submissionID, ""), nil)
	if err != nil {
		return false, err
	}
	var r struct {
		Deleted *bool `json:"deleted"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || r.Deleted == nil {
		return false, fmt.Errorf("job delete answer: not {\"deleted\": bool}: %s", clip(string(raw)))
	}
	return *r.Deleted, nil
}

// JobLogs is GET /api/jobs/{id}/logs: everything the entrypoint wrote to
// stdout and stderr so far (Ray's supervisor lines included).
func (d *Dashboard) JobLogs(ctx context.Context, submissionID string) (string, error) {
	raw, err := d.send(ctx, http.MethodGet, jobPath(submissionID, "/logs"), nil)
	if err != nil {
		return "", err
	}
	var r struct {
		Logs *string `json:"logs"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || r.Logs == nil {
		return "", fmt.Errorf("job logs answer: not {\"logs\": string}: %s", clip(string(raw)))
	}
	return *r.Logs, nil
}

func jobPath(id, suffix string) string { return "/api/jobs/" + url.PathEscape(id) + suffix }

// send is one Jobs API request with the token, the body as JSON; it
// returns the body of a 200 answer and CastRay's error (Answer.Err) for
// any other. Errors name method and URL path, never the token.
func (d *Dashboard) send(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	what := method + " " + d.base + path
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, scrubURLError(err))
	}
	req.Header.Set("User-Agent", "castray/"+Version)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	start := time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, scrubURLError(err))
	}
	defer resp.Body.Close()
	limit := int64(jobsBody)
	if resp.StatusCode != http.StatusOK {
		limit = errorBody
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading body: %w", what, scrubURLError(err))
	}
	if int64(len(raw)) > limit {
		if resp.StatusCode == http.StatusOK {
			return nil, fmt.Errorf("%s: body larger than %d bytes", what, limit)
		}
		raw = raw[:limit]
	}
	a := Answer{Status: resp.StatusCode, Body: raw, Took: time.Since(start)}
	if err := a.Err(what, d.token != ""); err != nil {
		if a.Status >= 500 {
			// Ray answers with a Python traceback: keep its last line.
			if se := (*StatusError)(nil); errors.As(err, &se) {
				se.Message = lastLine(string(raw))
			}
		}
		return nil, err
	}
	return raw, nil
}

// lastLine is the last non-empty line of s, clipped.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" && l != "." {
			return clip(l)
		}
	}
	return ""
}
