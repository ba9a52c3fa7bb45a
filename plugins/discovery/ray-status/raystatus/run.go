package raystatus

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"time"
)

// maxOutput bounds what is kept of a child's stdout and stderr, each.
const maxOutput = 1 << 20

// runResult is one finished (or killed) run of the CLI.
type runResult struct {
	Stdout, Stderr string
	ExitCode       int // -1 when the process did not exit normally
	Elapsed        time.Duration
	TimedOut       bool  // killed because the per-run timeout expired
	Cancelled      bool  // killed because ctx was done
	StartErr       error // the process could not be started
}

// runCLI runs bin with args and env in its own process group, and kills the
// whole group (SIGKILL) when ctx is done or timeout expires. Once the child
// has exited, whatever it left in its group is killed too, so nothing is
// left running when runCLI returns.
//
// The output goes to unlinked temporary files, not pipes: a leftover
// grandchild holding a pipe open would otherwise delay Wait.
func runCLI(ctx context.Context, bin string, args, env []string, timeout time.Duration) runResult {
	return runCLIUntil(ctx, bin, args, env, func() (<-chan time.Time, func() bool) {
		t := time.NewTimer(timeout)
		return t.C, t.Stop
	})
}

// runCLIUntil is runCLI with the per-run timeout made by startTimer once
// the child has started: the run is killed as timed out when its channel
// delivers. Tests use it to control the timeout.
func runCLIUntil(ctx context.Context, bin string, args, env []string, startTimer func() (<-chan time.Time, func() bool)) runResult {
	begin := time.Now()
	stdout, err := tempOutput()
	if err != nil {
		return runResult{ExitCode: -1, StartErr: err, Elapsed: time.Since(begin)}
	}
	defer stdout.Close()
	stderr, err := tempOutput()
	if err != nil {
		return runResult{ExitCode: -1, StartErr: err, Elapsed: time.Since(begin)}
	}
	defer stderr.Close()

	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = stdout, stderr
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return runResult{ExitCode: -1, StartErr: err, Elapsed: time.Since(begin)}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	expired, stop := startTimer()
	defer stop()
	var res runResult
	select {
	case err = <-done:
	case <-expired:
		res.TimedOut = true
		killGroup(cmd)
		err = <-done
	case <-ctx.Done():
		res.Cancelled = true
		killGroup(cmd)
		err = <-done
	}
	// The group outlives its leader while members remain; Linux does not
	// reuse the id meanwhile.
	killGroup(cmd)
	res.Elapsed = time.Since(begin)
	res.Stdout, res.Stderr = readOutput(stdout), readOutput(stderr)
	res.ExitCode = 0
	if err != nil {
		res.ExitCode = -1
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.Exited() {
			res.ExitCode = ee.ExitCode()
		}
	}
	if res.TimedOut || res.Cancelled {
		res.ExitCode = -1
	}
	return res
}

// tempOutput is an unlinked temporary file for a child's output.
func tempOutput() (*os.File, error) {
	f, err := os.CreateTemp("", "castray-ray-status-*")
	if err != nil {
		return nil, err
	}
	_ = os.Remove(f.Name())
	return f, nil
}

// readOutput reads back up to maxOutput bytes of a child's output.
func readOutput(f *os.File) string {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(f, maxOutput))
	return string(b)
}
