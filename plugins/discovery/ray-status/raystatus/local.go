package raystatus

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/castray/castray/sdk/ray/rayproc"
)

// defaultAddress is the cluster a plain `ray status` (no --address) talks
// to, found the way Ray 2.60 finds it
// (services.canonicalize_bootstrap_address_or_die):
//
//  1. $RAY_ADDRESS, when set and not "auto" or "local";
//  2. else the file <RAY_TMPDIR|TMPDIR|/tmp>/ray/ray_current_cluster, which the
//     last `ray start` on this machine wrote (it may be stale: Ray does not
//     delete it);
//  3. else the --gcs-address of the raylet processes on this machine, when
//     they name exactly one.
//
// Address is "" when Ray would fail or pick arbitrarily (several raylets and
// RAY_ADDRESS=auto), so the plugin never guesses. Ray also replaces a
// loopback host with the node's IP before it connects; Address keeps what
// the source says.
type defaultAddress struct {
	Address string
	Source  string // for evidence: "env RAY_ADDRESS", "file /tmp/ray/ray_current_cluster", ...
	// Raylets are the GCS addresses the process scan found (step 3 only).
	Raylets []string
}

// lookupDefaultAddress applies the rules above to an environment (that of
// the child `ray status`) and a /proc root ("" is the real /proc).
func lookupDefaultAddress(ctx context.Context, env []string, procRoot string) defaultAddress {
	get := func(k string) string { return envValue(env, k) }
	v := strings.TrimSpace(get("RAY_ADDRESS"))
	if v != "" && v != "auto" && v != "local" {
		if strings.Contains(v, "://") {
			return defaultAddress{Source: "env RAY_ADDRESS is a URL, not a GCS address"}
		}
		return defaultAddress{Address: v, Source: "env RAY_ADDRESS"}
	}
	if v != "local" {
		base := get("RAY_TMPDIR")
		if base == "" {
			base = get("TMPDIR")
		}
		if base == "" {
			base = "/tmp"
		}
		p := filepath.Join(base, "ray", "ray_current_cluster")
		if b, err := os.ReadFile(p); err == nil {
			if a := strings.TrimSpace(string(b)); a != "" {
				return defaultAddress{Address: a, Source: "file " + p}
			}
		}
	}
	raylets := rayletGCSAddresses(ctx, procRoot)
	if len(raylets) == 1 {
		return defaultAddress{Address: raylets[0], Source: "the only raylet process's --gcs-address", Raylets: raylets}
	}
	return defaultAddress{Raylets: raylets}
}

// rayletGCSAddresses is Ray's find_gcs_addresses over the process table at
// procRoot (rayproc.RayletGCSAddresses); none when the table cannot be read.
func rayletGCSAddresses(ctx context.Context, procRoot string) []string {
	ps, err := rayproc.Lister{Root: procRoot}.Processes(ctx)
	if err != nil {
		return nil
	}
	return rayproc.RayletGCSAddresses(ps)
}

// envValue returns the last value of key in env ("" if unset).
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// envWithout returns env minus the given keys.
func envWithout(env []string, keys ...string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, key := range keys {
			if k == key {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}
