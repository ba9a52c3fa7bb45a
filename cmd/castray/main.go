// Command castray is the CastRay daemon and its command-line client.
//
//	castray serve      run the daemon
//	castray version    print the version
//	castray plugin new write a new discovery plugin module (plugin_new.go)
//
// Every other command talks to a running daemon through the typed API client
// github.com/castray/castray/host/api/client, one command per route: upload,
// files (list, download, delete), send, transfers (and the original's manual
// transfer and stats), message (the original's POST /api/send), generate (the
// file generator), groups, distributions, nodes (list, show, create, delete,
// files, download, messages, external), select, discover, connect,
// disconnect, clusters, config, token, health, plugins, status, events. -o json prints the
// API's answer unchanged (README, section CLI, names the few exceptions).
// Exit codes: 0 success, 1 an API error or a failed transfer, 2 a usage error,
// an unknown enum value included (nothing was sent to the daemon).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := newApp().run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
