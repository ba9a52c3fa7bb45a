//go:build linux

package progkit

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

// TB lets a program use e2e/raycluster (which takes a testing.TB) outside
// `go test`: Fatalf and Skipf end the calling function by panicking with a
// tbStop, which RunTB turns back into an error; Cleanup functions run when
// RunTB returns, last first, like a test's. testing.TB has an unexported
// method, so the interface is embedded; any method not overridden here would
// panic on the nil interface (raycluster uses only the ones below).
type TB struct {
	testing.TB
	name     string
	prog     string
	logf     func(format string, args ...any)
	mu       sync.Mutex
	cleanups []func()
	errs     []string
}

type tbStop struct {
	msg  string
	skip bool
}

func (t *TB) Helper()      {}
func (t *TB) Name() string { return t.name }
func (t *TB) Logf(format string, args ...any) {
	t.logf("%s: %s", t.name, fmt.Sprintf(format, args...))
}
func (t *TB) Log(args ...any) { t.Logf("%s", fmt.Sprint(args...)) }
func (t *TB) Errorf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.errs = append(t.errs, fmt.Sprintf(format, args...))
}
func (t *TB) Error(args ...any) { t.Errorf("%s", fmt.Sprint(args...)) }
func (t *TB) Fatalf(format string, args ...any) {
	panic(tbStop{msg: fmt.Sprintf(format, args...)})
}
func (t *TB) Fatal(args ...any) { t.Fatalf("%s", fmt.Sprint(args...)) }
func (t *TB) Skipf(format string, args ...any) {
	panic(tbStop{msg: fmt.Sprintf(format, args...), skip: true})
}
func (t *TB) Skip(args ...any) { t.Skipf("%s", fmt.Sprint(args...)) }
func (t *TB) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.errs) > 0
}
func (t *TB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}
func (t *TB) TempDir() string {
	dir, err := os.MkdirTemp("", "castray-"+t.prog+"-tb-")
	if err != nil {
		t.Fatalf("TempDir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// ErrSkipped is RunTB's error for a Skipf: what could not run here (e.g. no
// ray).
type ErrSkipped struct{ Msg string }

func (e ErrSkipped) Error() string { return "skipped: " + e.Msg }

// RunTB runs f with a TB named name and then its cleanups, and reports a
// Fatalf, a Skipf (as ErrSkipped) or Errorf calls (also from cleanups) as an
// error. prog names the program in TempDir's folders; logf is the
// program's log, for Logf.
func RunTB(prog, name string, logf func(format string, args ...any), f func(t *TB) error) (err error) {
	t := &TB{name: name, prog: prog, logf: logf}
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
				err = ErrSkipped{s.msg}
			} else {
				err = fmt.Errorf("%s", s.msg)
			}
		}
	}()
	return f(t)
}
