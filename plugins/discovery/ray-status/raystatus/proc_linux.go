package raystatus

import "syscall"

// setDeathSignal makes the kernel kill the child if the plugin dies first.
func setDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
