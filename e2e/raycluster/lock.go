package raycluster

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// LockPath is the machine-wide lock that serialises Ray e2e tests across test processes.
const LockPath = "/tmp/castray-ray-e2e.lock"

// lockWait bounds how long Start waits for another test process to release LockPath.
const lockWait = 15 * time.Minute

var machineLock struct {
	mu   sync.Mutex
	refs int
	f    *os.File
}

// acquireLock takes the exclusive flock on LockPath unless this process already holds it, and
// counts one more holder. The flock belongs to the open file, so clusters of the same process
// share it; different processes (the parallel test binaries of `go test ./...`) wait.
func acquireLock(t testing.TB) error {
	t.Helper()
	machineLock.mu.Lock()
	defer machineLock.mu.Unlock()
	if machineLock.refs > 0 {
		machineLock.refs++
		return nil
	}
	f, err := os.OpenFile(LockPath, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return fmt.Errorf("open %s: %w", LockPath, err)
	}
	start := time.Now()
	lastLog := time.Time{}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return fmt.Errorf("flock %s: %w", LockPath, err)
		}
		if time.Since(start) > lockWait {
			holder, _ := os.ReadFile(LockPath)
			f.Close()
			return fmt.Errorf("waited %v for %s, still held by: %s", lockWait, LockPath, strings.TrimSpace(string(holder)))
		}
		if time.Since(lastLog) > 30*time.Second {
			holder, _ := os.ReadFile(LockPath)
			t.Logf("raycluster: waiting for %s (another test process runs Ray: %s)", LockPath, strings.TrimSpace(string(holder)))
			lastLog = time.Now()
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Say who holds it, for the diagnostics of waiters. Best effort.
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "pid=%d test=%s since=%s\n", os.Getpid(), t.Name(), time.Now().Format(time.RFC3339))
	}
	machineLock.f = f
	machineLock.refs = 1
	return nil
}

func releaseLock() {
	machineLock.mu.Lock()
	defer machineLock.mu.Unlock()
	if machineLock.refs == 0 {
		return
	}
	machineLock.refs--
	if machineLock.refs > 0 {
		return
	}
	f := machineLock.f
	machineLock.f = nil
	_ = f.Truncate(0)
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	_ = f.Close()
}
