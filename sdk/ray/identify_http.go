package ray

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
)

// maxProbeBody bounds what a probe reads of one HTTP answer.
const maxProbeBody = 64 << 10

// IsHealthy reports Ray's health answer (GET /api/gcs_healthz on the
// dashboard, /api/local_raylet_healthz on the agent): 200 with the body
// "success".
func IsHealthy(status int, body []byte) bool {
	return status == http.StatusOK && string(bytes.TrimSpace(body)) == "success"
}

// httpProbe is the HTTP side of one Probe call. It keeps one connection
// alive between its requests.
type httpProbe struct {
	p      *prober
	base   string
	client *http.Client
}

// get fetches path through the package's one dashboard GET with the
// probe timeout; withToken adds `Authorization: Bearer <token>`. A status
// of 0 means no answer came.
func (h *httpProbe) get(ctx context.Context, path string, withToken bool) (int, []byte, error) {
	o := GetOptions{Timeout: h.p.opts.Timeout, Limit: maxProbeBody, UserAgent: h.p.opts.UserAgent}
	if withToken {
		o.Token = h.p.opts.Token
	}
	a, err := Get(ctx, h.client, h.base+path, o)
	return a.Status, a.Body, err
}

// http asks the port whether it is a Ray dashboard or dashboard agent. A
// dashboard answers /api/authentication_mode (Ray ≥ 2.5x, open in token
// mode), /api/version with a ray_version, or /api/gcs_healthz "success";
// an agent /api/local_raylet_healthz "success".
func (p *prober) http(ctx context.Context, f *Finding) stepResult {
	tr := &http.Transport{
		Proxy:               nil, // never through a proxy: the probe is about the host itself
		DialContext:         p.dial,
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	h := &httpProbe{p: p, base: "http://" + p.addr, client: &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	noAnswer := func(err error) stepResult {
		f.Evidence = append(f.Evidence, fmt.Sprintf("HTTP on %s → %v (no HTTP answer)", p.addr, err))
		if IsTimeout(err) {
			return stepTimedOut
		}
		return stepNoAnswer
	}
	answered := false
	agent := func() (bool, error) {
		st, body, err := h.get(ctx, "/api/local_raylet_healthz", false)
		if st == 0 {
			return false, err
		}
		answered = true
		if err == nil && IsHealthy(st, body) {
			f.Kind = KindDashboardAgent
			f.Evidence = append(f.Evidence, fmt.Sprintf("GET %s/api/local_raylet_healthz → 200 success (a Ray dashboard agent)", h.base))
			return true, nil
		}
		return false, nil
	}
	if p.opts.Expect == KindDashboardAgent {
		if ok, err := agent(); ok {
			return stepDone
		} else if err != nil {
			return noAnswer(err)
		}
	}

	d := &DashboardFinding{URL: h.base}
	var ev []string
	st, body, err := h.get(ctx, "/api/authentication_mode", false)
	if st == 0 && !answered {
		return noAnswer(err)
	}
	if st != 0 {
		answered = true
	}
	if err == nil {
		if mode, perr := DecodeAuthMode(body); st == http.StatusOK && perr == nil {
			d.AuthMode = mode
			d.TokenMode = mode == "token"
			ev = append(ev, fmt.Sprintf("GET %s/api/authentication_mode → 200 %q (a Ray dashboard)", h.base, mode))
		}
	}

	// The token goes only to a dashboard that said it wants one.
	withToken := d.AuthMode != "" && d.AuthMode != "disabled" && p.opts.Token != ""
	how := ""
	if withToken {
		how = " (with the token)"
	}
	if st, body, err := h.get(ctx, "/api/version", withToken); st != 0 {
		answered = true
		switch {
		case st == http.StatusOK:
			if v, perr := DecodeVersion(body); err == nil && perr == nil {
				d.Version = &v
				ev = append(ev, fmt.Sprintf("GET %s/api/version → 200 ray %s%s", h.base, v.RayVersion, how))
			}
		case (st == http.StatusUnauthorized || st == http.StatusForbidden) && d.AuthMode != "":
			d.AuthRequired = true
			if withToken {
				d.TokenRejected = true
				ev = append(ev, fmt.Sprintf("GET %s/api/version with the token → %d (token rejected)", h.base, st))
			} else {
				ev = append(ev, fmt.Sprintf("GET %s/api/version → %d (token auth on, no token given)", h.base, st))
			}
		}
	}
	healthy := false
	if st, body, err := h.get(ctx, "/api/gcs_healthz", false); st != 0 {
		answered = true
		healthy = err == nil && IsHealthy(st, body)
		switch {
		case healthy:
			ev = append(ev, fmt.Sprintf("GET %s/api/gcs_healthz → 200 success", h.base))
		case d.AuthMode != "" || d.Version != nil:
			ev = append(ev, fmt.Sprintf("GET %s/api/gcs_healthz → %d (GCS not healthy)", h.base, st))
		}
	}
	if d.AuthMode != "" || d.Version != nil || healthy {
		f.Kind, f.Dashboard = KindDashboard, d
		f.Evidence = append(f.Evidence, ev...)
		return stepDone
	}

	if p.opts.Expect != KindDashboardAgent {
		if ok, _ := agent(); ok {
			return stepDone
		}
	}
	if !answered {
		return stepNoAnswer
	}
	f.NotRay = "HTTP server without Ray's dashboard or agent endpoints"
	f.Evidence = append(f.Evidence, fmt.Sprintf("GET %s/api/authentication_mode, /api/version, /api/gcs_healthz, /api/local_raylet_healthz: no Ray answer", h.base))
	return stepDone
}
