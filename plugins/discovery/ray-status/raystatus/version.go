package raystatus

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	version "github.com/hashicorp/go-version"
)

// versionCache remembers `ray --version` per CLI file (path, size, mtime),
// so only the first Discover with a given CLI pays for it.
type versionCache struct {
	mu      sync.Mutex
	entries map[string]*versionProbe
}

// versionProbe is one `ray --version` run, shared by everyone who asks.
type versionProbe struct {
	done    chan struct{}
	version string
}

// probe returns the cached probe of bin, or starts one. The run is bound to
// ctx and timeout (the plugin's timeout_ms: a Python CLI on a loaded machine
// can take seconds); a cancelled or timed-out probe is forgotten, so a later
// call starts over.
func (vc *versionCache) probe(ctx context.Context, bin string, env []string, timeout time.Duration) *versionProbe {
	key := bin
	if st, err := os.Stat(bin); err == nil {
		key = fmt.Sprintf("%s|%d|%d", bin, st.Size(), st.ModTime().UnixNano())
	}
	vc.mu.Lock()
	defer vc.mu.Unlock()
	if vc.entries == nil {
		vc.entries = map[string]*versionProbe{}
	}
	if p, ok := vc.entries[key]; ok {
		return p
	}
	p := &versionProbe{done: make(chan struct{})}
	vc.entries[key] = p
	go func() {
		defer close(p.done)
		res := runCLI(ctx, bin, []string{"--version"}, env, timeout)
		if res.Cancelled || res.TimedOut {
			vc.mu.Lock()
			delete(vc.entries, key)
			vc.mu.Unlock()
			return
		}
		p.version = parseCLIVersion(res.Stdout)
	}()
	return p
}

// get waits for the probe (or ctx) and returns the version, "" if unknown.
func (p *versionProbe) get(ctx context.Context) string {
	if p == nil {
		return ""
	}
	select {
	case <-p.done:
		return p.version
	case <-ctx.Done():
		return ""
	}
}

// wait blocks until the probe's process is gone.
func (p *versionProbe) wait() { <-p.done }

// parseCLIVersion reads "ray, version 2.60.0".
func parseCLIVersion(out string) string {
	for _, line := range strings.Split(cleanText(out), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "ray, version "); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return f[0]
			}
		}
	}
	return ""
}

// versionChecked tells whether `ray status` of this CLI version refuses a
// cluster of another Ray version (scripts.py _check_ray_version), so that a
// successful run proves the cluster's version. Seen in the sources of 2.40.0,
// 2.44.1 and 2.49.2 and live in 2.60.0; 2.9.3 has no such check. Versions in
// between are not trusted. Pre-releases and nightlies count as their release
// (2.61.0rc1 and 3.0.0.dev0 as 2.61.0 and 3.0.0).
func versionChecked(v string) bool {
	ver, err := parseRayVersion(v)
	if err != nil {
		return false
	}
	return ver.Core().GreaterThanOrEqual(firstCheckedVersion)
}

// parseRayVersion parses a Ray version, which follows PEP 440 ("2.60.0",
// "2.61.0rc1", "3.0.0.dev0", "2.60.0.post1"): go-version reads all but the
// ".devN" and ".postN" suffixes, which are given to it as a pre-release
// ("-devN") and as build metadata ("+postN").
func parseRayVersion(v string) (*version.Version, error) {
	v = strings.Replace(v, ".dev", "-dev", 1)
	v = strings.Replace(v, ".post", "+post", 1)
	return version.NewVersion(v)
}

// firstCheckedVersion is the oldest CLI known to check the cluster's version.
var firstCheckedVersion = version.Must(version.NewVersion("2.40.0"))
