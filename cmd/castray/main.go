// Command castray is the CastRay daemon and its command-line client.
//
//	castray serve      run the daemon
//	castray version    print the version
//	castray plugin new write a new discovery plugin module (plugin_new.go)
//
// Every other command talks to a running daemon through the typed API client
// github.com/castray/castray/host/api/client: upload, files, send, transfers,
// groups, distributions, nodes, discover, connect, disconnect, clusters,
// plugins, status, events. Exit codes: 0 success, 1 an API error or a failed
// transfer, 2 a usage error (nothing was sent to the daemon).
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
