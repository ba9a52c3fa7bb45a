//go:build linux

package progkit

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// SignalContext returns a context that ends on SIGINT or SIGTERM, and then
// asks the kernel for SIGTERM when the parent exits: `go run` does not pass
// its own SIGTERM on, and an orphaned program would keep its daemon (and
// Ray cluster) running. logf reports a failed prctl.
func SignalContext(logf func(format string, args ...any)) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	dieWithParent(logf)
	return ctx, stop
}

func dieWithParent(logf func(format string, args ...any)) {
	ppid := os.Getppid()
	_, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0)
	if errno != 0 {
		logf("prctl(PR_SET_PDEATHSIG): %v", errno)
		return
	}
	if os.Getppid() != ppid { // the parent died before prctl
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
	}
}

// FreePort asks the kernel for a free loopback port.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// TailBuffer keeps the last Max bytes written to it (a daemon's log).
type TailBuffer struct {
	mu  sync.Mutex
	b   []byte
	Max int
}

func (t *TailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.Max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.Max:]...)
	}
	return len(p), nil
}

func (t *TailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// Process is a started daemon process: the last 64 KiB of its output and
// its exit.
type Process struct {
	Cmd     *exec.Cmd
	Log     *TailBuffer
	Done    chan struct{} // closed when the process has exited
	ExitErr error         // cmd.Wait's answer, set before Done closes
}

// StartProcess starts cmd (its Env set by the caller) with SIGTERM should
// this program die without stopping it — the daemon then stops its plugins
// itself — and its stdout and stderr into Log and, if not nil, also.
func StartProcess(cmd *exec.Cmd, also io.Writer) (*Process, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	p := &Process{Cmd: cmd, Log: &TailBuffer{Max: 64 << 10}, Done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Log, p.Log
	if also != nil {
		w := io.MultiWriter(p.Log, also)
		cmd.Stdout, cmd.Stderr = w, w
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.ExitErr = cmd.Wait()
		close(p.Done)
	}()
	return p, nil
}

// Exited is true once the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.Done:
		return true
	default:
		return false
	}
}

// Terminate sends SIGTERM and waits for the exit; after 20 s it kills the
// process and says so.
func (p *Process) Terminate() error {
	if p.Exited() {
		return nil
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.Done:
		return nil
	case <-time.After(20 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.Done
		return errors.New("daemon ignored SIGTERM for 20 s; killed")
	}
}
