package sessions

import (
	"context"
	"net"
	"strconv"

	"github.com/castray/castray/sdk/ray/rayproc"
)

// ProcessLister lists the running processes of the machine. The default is rayproc's
// reader of /proc; tests inject a fake fed with command lines captured from a live Ray
// 2.60 head.
type ProcessLister interface {
	// Processes returns the live processes (zombies excluded). An error matching
	// rayproc.ErrNoProcessTable means the platform has no process table to read (not
	// Linux, /proc not mounted).
	Processes(ctx context.Context) ([]rayproc.Process, error)
}

func joinHostPort(h string, p int) string { return net.JoinHostPort(h, strconv.Itoa(p)) }
