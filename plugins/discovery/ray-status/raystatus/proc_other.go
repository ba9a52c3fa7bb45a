//go:build unix && !linux

package raystatus

import "syscall"

func setDeathSignal(*syscall.SysProcAttr) {}
