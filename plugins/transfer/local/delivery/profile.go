package delivery

import (
	"os"
	"runtime/pprof"

	hclog "github.com/hashicorp/go-hclog"
)

// startProfile writes a CPU profile of the process to path until the
// returned function is called. Only one profile runs at a time: a Send that
// overlaps another's profile is not profiled.
func startProfile(log hclog.Logger, path string) func() {
	f, err := os.Create(path)
	if err != nil {
		log.Warn("cpu profile", "path", path, "error", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Warn("cpu profile", "path", path, "error", err)
		_ = f.Close()
		_ = os.Remove(path)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
		log.Info("cpu profile written", "path", path)
	}
}
