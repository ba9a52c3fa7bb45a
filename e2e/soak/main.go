//go:build linux

// Command soak is the fault-injection part of `make soak` (e2e/soak.sh):
// it drives the built castray binary as a black box and injects three kinds
// of fault, checking after each what the daemon promises, and prints one
// table of figures (docs/reliability.md, "Fault campaign"):
//
//  1. plugins: kill -9 of a random plugin process (a child of the daemon,
//     found through /proc) while a discovery round and a transfer to local
//     nodes are under way, -plugin-kills times. The daemon must answer
//     /healthz and /api/status throughout (polled concurrently), every
//     operation must complete or fail with a reason, and the plugin must be
//     relaunched: the time from the kill until /api/plugins lists it
//     healthy again with a new pid is measured.
//  2. daemon: kill -9 of the daemon mid-broadcast (local backend),
//     -daemon-kills times, then a restart on the same data dir. No file under
//     a final name may differ from its source (SHA-256 of every delivered
//     file), the record after the restart must say what is on disk, and a
//     retry (or file_transfer.resume_on_start) must complete the transfer.
//  3. churn: a live multi-node Ray cluster (e2e/raycluster, under its
//     machine lock) connected through the daemon and churned for -churn:
//     worker nodes added, killed (kill -9 of the raylet, or of the whole
//     node), the head restarted on the same ports. After each settle the
//     daemon's alive Ray nodes must equal Ray's own node table; the
//     daemon's goroutines and open fds are sampled throughout.
//
// Everything it starts (daemons, their plugins, Ray processes) is stopped
// and every temporary file removed on success, on failure and on
// SIGINT/SIGTERM, also when only its parent (`go run`) is signalled. The
// exit status is non-zero when a check failed or a phase could not run.
// Linux only: it reads /proc.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"time"

	"github.com/castray/castray/e2e/progkit"
)

type options struct {
	binDir       string
	pluginKills  int
	daemonKills  int
	churn        time.Duration
	settle       time.Duration
	maxWorkers   int
	headRestarts time.Duration // one head restart per this much churn time
	size         int64
	seed         int64
	skip         map[string]bool
}

func main() { os.Exit(run()) }

func run() int {
	var o options
	var skip string
	flag.StringVar(&o.binDir, "bin", os.Getenv("CASTRAY_BIN_DIR"), "directory holding castray and plugins/ (default $CASTRAY_BIN_DIR, else ./bin)")
	flag.IntVar(&o.pluginKills, "plugin-kills", 100, "phase 1: plugin processes killed with SIGKILL")
	flag.IntVar(&o.daemonKills, "daemon-kills", 20, "phase 2: daemon kills mid-transfer")
	flag.DurationVar(&o.churn, "churn", 10*time.Minute, "phase 3: how long the Ray cluster is churned")
	flag.DurationVar(&o.settle, "settle", 90*time.Second, "phase 3: the longest wait for Ray, then the daemon, to settle after a churn step")
	flag.IntVar(&o.maxWorkers, "max-workers", 3, "phase 3: most worker nodes beside the head at once")
	flag.DurationVar(&o.headRestarts, "head-every", 3*time.Minute, "phase 3: restart the head about once per this much churn")
	flag.Int64Var(&o.size, "size", 24<<20, "bytes of each file transferred in phases 1 and 2")
	flag.Int64Var(&o.seed, "seed", 0, "random seed (0: from the clock; printed)")
	flag.StringVar(&skip, "skip", "", "comma-separated phases to skip: plugins,daemon,churn")
	flag.Parse()
	o.skip = progkit.SkipSet(skip)
	if o.binDir == "" {
		o.binDir = "bin"
	}
	abs, err := filepath.Abs(o.binDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 2
	}
	o.binDir = abs
	if _, err := os.Stat(filepath.Join(o.binDir, "castray")); err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v (run `make build` first)\n", err)
		return 2
	}
	if o.pluginKills < 0 || o.daemonKills < 0 || o.size < 1<<20 || o.maxWorkers < 1 {
		fmt.Fprintln(os.Stderr, "soak: counts must be >= 0, -size >= 1 MiB, -max-workers >= 1")
		return 2
	}
	if o.seed == 0 {
		o.seed = time.Now().UnixNano()
	}
	logf("seed %d", o.seed)
	rng := rand.New(rand.NewSource(o.seed))

	ctx, root, cleanup, err := progkit.Setup("soak", logf)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 2
	}
	defer cleanup()

	rep := &report{}
	steps := progkit.Steps{Ctx: ctx, Skip: o.skip, Logf: logf, Fail: rep.fail}
	phase := func(name string, f func() error) {
		start := time.Now()
		if steps.Run(name, f) {
			logf("== %s done in %v", name, time.Since(start).Round(time.Second))
		}
	}
	phase("plugins", func() error { return pluginPhase(ctx, rep, o, rng, filepath.Join(root, "plugins")) })
	phase("daemon", func() error { return daemonPhase(ctx, rep, o, rng, filepath.Join(root, "daemon")) })
	phase("churn", func() error { return churnPhase(ctx, rep, o, rng, filepath.Join(root, "churn")) })

	rep.print(os.Stdout)
	if errors.Is(ctx.Err(), context.Canceled) {
		return 130
	}
	if len(rep.failures) > 0 {
		return 1
	}
	return 0
}

// logf reports progress on stderr, so stdout carries the table only.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "soak %s: "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
