//go:build linux

package main

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

// clusterTB lets the campaign use e2e/raycluster (which takes a testing.TB)
// outside `go test`, as e2e/bench does: Fatalf and Skipf end the calling
// function by panicking with a tbStop, which runTB turns back into an error;
// Cleanup functions run when runTB returns, last first. testing.TB has an
// unexported method, so the interface is embedded; raycluster uses only the
// methods overridden here.
type clusterTB struct {
	testing.TB
	name     string
	mu       sync.Mutex
	cleanups []func()
	errs     []string
}

type tbStop struct {
	msg  string
	skip bool
}

func (t *clusterTB) Helper()      {}
func (t *clusterTB) Name() string { return t.name }
func (t *clusterTB) Logf(format string, args ...any) {
	logf("%s: %s", t.name, fmt.Sprintf(format, args...))
}
func (t *clusterTB) Log(args ...any) { t.Logf("%s", fmt.Sprint(args...)) }
func (t *clusterTB) Errorf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.errs = append(t.errs, fmt.Sprintf(format, args...))
}
func (t *clusterTB) Error(args ...any) { t.Errorf("%s", fmt.Sprint(args...)) }
func (t *clusterTB) Fatalf(format string, args ...any) {
	panic(tbStop{msg: fmt.Sprintf(format, args...)})
}
func (t *clusterTB) Fatal(args ...any) { t.Fatalf("%s", fmt.Sprint(args...)) }
func (t *clusterTB) Skipf(format string, args ...any) {
	panic(tbStop{msg: fmt.Sprintf(format, args...), skip: true})
}
func (t *clusterTB) Skip(args ...any) { t.Skipf("%s", fmt.Sprint(args...)) }
func (t *clusterTB) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.errs) > 0
}
func (t *clusterTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}
func (t *clusterTB) TempDir() string {
	dir, err := os.MkdirTemp("", "castray-soak-tb-")
	if err != nil {
		t.Fatalf("TempDir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// errSkipped marks a phase that could not run here (no ray).
type errSkipped struct{ msg string }

func (e errSkipped) Error() string { return "skipped: " + e.msg }

// runTB runs f with a clusterTB and then its cleanups, and reports a Fatalf,
// a Skipf or Errorf calls (also from cleanups) as an error.
func runTB(name string, f func(t *clusterTB) error) (err error) {
	t := &clusterTB{name: name}
	defer func() {
		for i := len(t.cleanups) - 1; i >= 0; i-- {
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("cleanup: %v", r)
					}
				}()
				t.cleanups[i]()
			}()
		}
		if len(t.errs) > 0 && err == nil {
			err = fmt.Errorf("%s", strings.Join(t.errs, "; "))
		}
	}()
	defer func() {
		if r := recover(); r != nil {
			s, ok := r.(tbStop)
			if !ok {
				panic(r)
			}
			if s.skip {
				err = errSkipped{s.msg}
			} else {
				err = fmt.Errorf("%s", s.msg)
			}
		}
	}()
	return f(t)
}
