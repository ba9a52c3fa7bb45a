//go:build linux

// Command bench measures CastRay against baselines taken in the same run and
// prints one table: daemon start-up, idle memory, plugin RPC cost and local
// file transfer, the lines of Go in a minimal out-of-tree discovery
// plugin, and a broadcast onto a live local Ray cluster through the ray
// transfer plugin next to a hand-written Python Ray job (item 6). `make
// bench` runs it through e2e/bench.sh, which first runs the Go benchmarks
// of sdk and the local delivery package and hands their output over with
// -gobench, so their figures land in the same table.
//
// It drives the daemon as a black box (the castray binary, HTTP API), the
// way a user would. Goals are printed as PASS/MISS for information only:
// the exit status is non-zero only when a measurement itself failed.
//
// Everything it starts (daemons, plugin processes) is stopped and every
// temporary file removed, on success, on error and on SIGINT/SIGTERM, also
// when only its parent (`go run`) is signalled. Linux only: it reads /proc.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/castray/castray/e2e/progkit"
)

type options struct {
	binDir  string
	runs    int
	reps    int
	size    int64
	idle    time.Duration
	goBench string
	skip    map[string]bool
	raySize int64 // item 6: bytes broadcast onto the Ray cluster
	rayReps int   // item 6: rounds (each is two Ray jobs of raySize x 3)
}

func main() { os.Exit(run()) }

func run() int {
	var o options
	var skip string
	flag.StringVar(&o.binDir, "bin", os.Getenv("CASTRAY_BIN_DIR"), "directory holding castray and plugins/ (default $CASTRAY_BIN_DIR, else ./bin)")
	flag.IntVar(&o.runs, "runs", 7, "start-up runs (the median is reported)")
	flag.IntVar(&o.reps, "reps", 3, "rounds of the transfer measurements and their baselines (medians are reported)")
	flag.Int64Var(&o.size, "size", 1<<30, "size in bytes of the transfer benchmark's file")
	flag.DurationVar(&o.idle, "idle", 2*time.Second, "idle time before reading RSS")
	flag.StringVar(&o.goBench, "gobench", "", "output of `go test -bench` to include in the table")
	flag.StringVar(&skip, "skip", "", "comma-separated items to skip: startup,rpc,transfer,lines,ray,rayjoin,clusters")
	flag.Int64Var(&o.raySize, "ray-size", 256<<20, "size in bytes of the Ray broadcast benchmark's file (item 6)")
	flag.IntVar(&o.rayReps, "ray-reps", 1, "rounds of the Ray broadcast and its Python baseline (item 6; the median is reported)")
	flag.Parse()
	o.skip = progkit.SkipSet(skip)
	if o.binDir == "" {
		o.binDir = "bin"
	}
	abs, err := filepath.Abs(o.binDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	o.binDir = abs
	for _, p := range []string{filepath.Join(o.binDir, "castray"), filepath.Join(o.binDir, "plugins", pluginBinary)} {
		if _, err := os.Stat(p); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v (run `make build` first)\n", err)
			return 2
		}
	}
	if o.runs < 1 || o.reps < 1 || o.size < 1<<20 || o.rayReps < 1 || o.raySize < 1<<20 {
		fmt.Fprintln(os.Stderr, "bench: -runs, -reps and -ray-reps must be >= 1, -size and -ray-size >= 1 MiB")
		return 2
	}

	ctx, root, cleanup, err := progkit.Setup("bench", logf)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	defer cleanup()

	rep := &report{}
	steps := progkit.Steps{Ctx: ctx, Skip: o.skip, Logf: logf, Fail: rep.fail}
	step := steps.Run
	var versionRSS int64 // peak RSS of `castray version`, the RSS baseline
	step("startup", func() error {
		var err error
		versionRSS, err = benchStartup(ctx, rep, o, root)
		return err
	})
	step("rpc", func() error { return benchPluginRPC(ctx, rep, o) })
	step("transfer", func() error { return benchTransfer(ctx, rep, o, root, versionRSS) })
	step("lines", func() error { return benchPluginLines(ctx, rep, o, root) })
	step("ray", func() error { return benchRay(ctx, rep, o, root) })
	step("rayjoin", func() error { return benchRayJoin(ctx, rep, o, root) })
	step("clusters", func() error { return benchClusters(ctx, rep, o, root) })
	if o.goBench != "" {
		if err := addGoBench(rep, o.goBench); err != nil {
			rep.fail("gobench", err)
		}
	}

	rep.print(os.Stdout)
	if len(rep.failures) > 0 {
		return 1
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return 130
	}
	return 0
}

// logf reports progress on stderr, so stdout carries the table only.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
