//go:build linux

package progkit

import (
	"context"
	"os"
)

// Setup is the start of a program's run: SignalContext's context and a
// temporary root folder, castray-<prog>-*. cleanup removes the folder and
// stops the signal handling.
func Setup(prog string, logf func(format string, args ...any)) (ctx context.Context, root string, cleanup func(), err error) {
	ctx, stop := SignalContext(logf)
	root, err = os.MkdirTemp("", "castray-"+prog+"-")
	if err != nil {
		stop()
		return nil, "", nil, err
	}
	return ctx, root, func() {
		os.RemoveAll(root)
		stop()
	}, nil
}

// Steps runs a program's named steps (measurements, phases) in order.
type Steps struct {
	Ctx  context.Context
	Skip map[string]bool                  // steps left out
	Logf func(format string, args ...any) // logs "== <name>" as a step starts
	Fail func(name string, err error)     // gets a step's error
}

// Run runs f as the step name unless it is skipped or Ctx has ended (then
// Fail gets Ctx's error); it says whether f ran.
func (s Steps) Run(name string, f func() error) bool {
	if s.Skip[name] {
		return false
	}
	if s.Ctx.Err() != nil {
		s.Fail(name, s.Ctx.Err())
		return false
	}
	s.Logf("== %s", name)
	if err := f(); err != nil {
		s.Fail(name, err)
	}
	return true
}
