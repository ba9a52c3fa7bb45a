// Command castray-discovery-tmpdir is CastRay's discovery strategy that reads Ray temp
// dirs: every session_* dir, session_latest and ray_current_cluster, with a process and
// GCS-port check to tell live sessions from stale ones.
package main

import (
	"github.com/castray/castray/plugins/discovery/tmpdir/sessions"
	"github.com/castray/castray/sdk"
)

func main() { sdk.ServeDiscovery(sessions.New(sdk.Logger())) }
