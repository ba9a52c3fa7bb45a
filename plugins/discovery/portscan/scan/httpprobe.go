package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// maxBodyBytes bounds what is read of one HTTP answer.
const maxBodyBytes = 64 << 10

// versionInfo is the JSON of the dashboard's GET /api/version.
type versionInfo struct {
	Version     string `json:"version"`
	RayVersion  string `json:"ray_version"`
	RayCommit   string `json:"ray_commit"`
	SessionName string `json:"session_name"`
}

// parseVersion accepts a JSON object with a non-empty string ray_version,
// as Ray's dashboard answers /api/version.
func parseVersion(body []byte) (versionInfo, error) {
	var v versionInfo
	if err := strictObject(body, &v); err != nil {
		return v, err
	}
	if v.RayVersion == "" {
		return v, errors.New("no ray_version")
	}
	return v, nil
}

// parseAuthMode accepts {"authentication_mode": "<mode>"} with a non-empty
// mode, as Ray's dashboard answers /api/authentication_mode.
func parseAuthMode(body []byte) (string, error) {
	var v struct {
		Mode *string `json:"authentication_mode"`
	}
	if err := strictObject(body, &v); err != nil {
		return "", err
	}
	if v.Mode == nil || *v.Mode == "" || len(*v.Mode) > 64 {
		return "", errors.New("no authentication_mode")
	}
	return *v.Mode, nil
}

// strictObject decodes a JSON object (anything else is an error; unknown
// keys are allowed, a key of the wrong type is not).
func strictObject(body []byte, dst any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return errors.New("not a JSON object")
	}
	return json.Unmarshal(body, dst)
}

// isSuccess is Ray's health answer: the body "success".
func isSuccess(status int, body []byte) bool {
	return status == http.StatusOK && string(bytes.TrimSpace(body)) == "success"
}

// dashFinding is a Ray dashboard.
type dashFinding struct {
	URL           string
	AuthMode      string
	Version       *versionInfo
	AuthRequired  bool
	TokenRejected bool
	Evidence      []string
}

// agentFinding is a Ray dashboard agent.
type agentFinding struct {
	Host     string
	Port     int
	Evidence []string
}

// httpVerdict is what the HTTP probes made of a port.
type httpVerdict struct {
	Dash    *dashFinding
	Agent   *agentFinding
	NotRay  string
	NoHTTP  bool // no HTTP answer at all
	Timeout bool // the first request ran out of time
}

// httpProber talks HTTP/1.1 to one address.
type httpProber struct {
	host    string
	port    int
	base    string
	timeout time.Duration
	token   string
	client  *http.Client
	tr      *http.Transport
}

func newHTTPProber(host string, port int, timeout time.Duration, token string, heard *atomic.Bool) *httpProber {
	tr := &http.Transport{
		Proxy: nil, // never through a proxy: the scan is about the host itself
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &countingConn{Conn: c, heard: heard}, nil
		},
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
	}
	return &httpProber{
		host: host, port: port, base: "http://" + joinHostPort(host, port), timeout: timeout, token: token, tr: tr,
		client: &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

func (h *httpProber) Close() { h.tr.CloseIdleConnections() }

// get fetches path; withToken adds `Authorization: Bearer <token>`.
func (h *httpProber) get(ctx context.Context, path string, withToken bool) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.base+path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "application/json, text/plain")
	if withToken && h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		return resp.StatusCode, body, err
	}
	return resp.StatusCode, body, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// fingerprint asks the port whether it is a Ray dashboard or dashboard
// agent. agentFirst puts the agent's health check first.
func (h *httpProber) fingerprint(ctx context.Context, agentFirst bool) httpVerdict {
	addr := joinHostPort(h.host, h.port)
	answered := false
	tryAgent := func() (*agentFinding, error) {
		st, body, err := h.get(ctx, "/api/local_raylet_healthz", false)
		if err != nil {
			return nil, err
		}
		answered = true
		if isSuccess(st, body) {
			return &agentFinding{Host: h.host, Port: h.port, Evidence: []string{
				fmt.Sprintf("GET http://%s/api/local_raylet_healthz → 200 success (Ray dashboard agent)", addr)}}, nil
		}
		return nil, nil
	}
	if agentFirst {
		a, err := tryAgent()
		if a != nil {
			return httpVerdict{Agent: a}
		}
		if err != nil {
			return httpVerdict{NoHTTP: true, Timeout: isTimeout(err)}
		}
	}

	d := &dashFinding{URL: h.base}
	st, body, err := h.get(ctx, "/api/authentication_mode", false)
	if err != nil && !answered {
		return httpVerdict{NoHTTP: true, Timeout: isTimeout(err)}
	}
	if err == nil {
		answered = true
		if st == http.StatusOK {
			if mode, perr := parseAuthMode(body); perr == nil {
				d.AuthMode = mode
				d.Evidence = append(d.Evidence, fmt.Sprintf("GET %s/api/authentication_mode → 200 %q", h.base, mode))
			}
		}
	}

	// The token goes only to a dashboard that said it wants one.
	withToken := d.AuthMode != "" && d.AuthMode != "disabled" && h.token != ""
	st, body, err = h.get(ctx, "/api/version", withToken)
	if err == nil {
		answered = true
		switch {
		case st == http.StatusOK:
			if v, perr := parseVersion(body); perr == nil {
				d.Version = &v
				how := ""
				if withToken {
					how = " (with token)"
				}
				d.Evidence = append(d.Evidence, fmt.Sprintf("GET %s/api/version%s → 200 ray %s", h.base, how, v.RayVersion))
			}
		case (st == http.StatusUnauthorized || st == http.StatusForbidden) && d.AuthMode != "":
			d.AuthRequired = true
			if withToken {
				d.TokenRejected = true
				d.Evidence = append(d.Evidence, fmt.Sprintf("GET %s/api/version with our token → %d (token rejected)", h.base, st))
			} else {
				d.Evidence = append(d.Evidence, fmt.Sprintf("GET %s/api/version → %d (token auth on, no token)", h.base, st))
			}
		}
	}
	if d.AuthMode != "" || d.Version != nil {
		if st, body, err := h.get(ctx, "/api/gcs_healthz", false); err == nil {
			if isSuccess(st, body) {
				d.Evidence = append(d.Evidence, fmt.Sprintf("GET %s/api/gcs_healthz → 200 success", h.base))
			} else {
				d.Evidence = append(d.Evidence, fmt.Sprintf("GET %s/api/gcs_healthz → %d (GCS not healthy)", h.base, st))
			}
		}
		return httpVerdict{Dash: d}
	}

	if !agentFirst {
		a, aerr := tryAgent()
		if a != nil {
			return httpVerdict{Agent: a}
		}
		_ = aerr
	}
	if !answered {
		return httpVerdict{NoHTTP: true}
	}
	return httpVerdict{NotRay: "HTTP server without Ray's dashboard or agent endpoints"}
}
