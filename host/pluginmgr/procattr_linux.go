package pluginmgr

import (
	"os/exec"
	"syscall"
)

// detach puts a plugin in its own process group, so a terminal's Ctrl-C or a
// signal sent to the daemon's group reaches the daemon only (which then
// stops its plugins in order), and asks the kernel to kill the plugin if the
// daemon dies without stopping it, so no plugin outlives a crashed daemon.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
