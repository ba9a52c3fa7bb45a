// Command castray is the CastRay daemon and its command-line client.
//
//	castray serve      run the daemon
//	castray version    print the version
//	castray plugins    list the plugins of a running daemon
//	castray plugin new write a new discovery plugin module (plugin_new.go)
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "castray:", err)
		os.Exit(1)
	}
}
