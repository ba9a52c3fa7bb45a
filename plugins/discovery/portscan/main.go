// Command castray-discovery-portscan is CastRay's port-scan discovery
// strategy: it probes configured hosts on Ray's well-known ports and reports
// every port that answers like Ray (GCS, dashboard, client server, dashboard
// agent), grouped into cluster candidates.
package main

import (
	"github.com/castray/castray/plugins/discovery/portscan/scan"
	"github.com/castray/castray/sdk"
)

func main() { sdk.ServeDiscovery(scan.New(sdk.Logger())) }
