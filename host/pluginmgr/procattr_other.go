//go:build !linux

package pluginmgr

import "os/exec"

// detach is a no-op where Pdeathsig does not exist.
func detach(*exec.Cmd) {}
