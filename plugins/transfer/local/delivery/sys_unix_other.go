//go:build unix && !linux

package delivery

import "syscall"

const oNoFollow = syscall.O_NOFOLLOW
