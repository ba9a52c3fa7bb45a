//go:build linux

package main

import (
	"context"
	"fmt"
	"go/scanner"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// benchPluginLines measures how much Go a third party writes for a
// discovery plugin: the module `castray plugin new` generates (the SDK's
// example, which probes hosts for a Ray dashboard; e2e/plugins/outoftree
// shows it loading, merging and surviving a kill) is built out of tree
// against this checkout, and the lines of its .go files that hold code are
// counted (blank and comment-only lines are not). The baseline is
// sdk/testdata/v1plugin, a plugin written against API v1 as first shipped,
// without the SDK's helpers.
func benchPluginLines(ctx context.Context, rep *report, o options, root string) error {
	repo, err := os.Getwd()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(repo, "sdk", "sdk.go")); err != nil {
		return fmt.Errorf("run from the repository root (e2e/bench.sh does): %w", err)
	}
	dir := filepath.Join(root, "plugin-new")
	gen := exec.CommandContext(ctx, filepath.Join(o.binDir, "castray"), "plugin", "new", "bench-scan", "--dir", dir, "--sdk-path", repo)
	if out, err := gen.CombinedOutput(); err != nil {
		return fmt.Errorf("castray plugin new: %v\n%s", err, out)
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(root, "castray-discovery-bench-scan"), ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build of the generated plugin: %v\n%s", err, out)
	}
	lines, err := goCodeLines(dir)
	if err != nil {
		return err
	}
	base, err := goCodeLines(filepath.Join(repo, "sdk", "testdata", "v1plugin"))
	if err != nil {
		return err
	}
	logf("plugin lines: generated %d, v1-style baseline %d", lines, base)
	rep.add(row{
		item: "6", what: "lines of Go in the smallest correct out-of-tree discovery plugin (`castray plugin new`, builds)",
		figure: fmt.Sprint(lines), baseName: "v1-style plugin, no SDK helpers (sdk/testdata/v1plugin)", baseline: fmt.Sprint(base),
		ratio: ratio(float64(lines), float64(base)), goal: "<= 30", verdict: verdict(lines <= 30),
	})
	return nil
}

// goCodeLines counts the lines of the .go files in dir (not its
// subdirectories) that hold at least one token other than a comment.
func goCodeLines(dir string) (int, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		return 0, fmt.Errorf("no Go files in %s", dir)
	}
	total := 0
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return 0, err
		}
		fset := token.NewFileSet()
		file := fset.AddFile(path, -1, len(src))
		var s scanner.Scanner
		var errs int
		s.Init(file, src, func(token.Position, string) { errs++ }, 0) // comments skipped
		seen := map[int]bool{}
		for {
			pos, tok, lit := s.Scan()
			if tok == token.EOF {
				break
			}
			if tok == token.SEMICOLON && lit == "\n" {
				continue // an inserted semicolon, not code
			}
			seen[file.Line(pos)] = true
		}
		if errs > 0 {
			return 0, fmt.Errorf("%s: %d scan errors", path, errs)
		}
		total += len(seen)
	}
	return total, nil
}
