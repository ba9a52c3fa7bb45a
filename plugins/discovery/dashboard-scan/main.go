// Command castray-discovery-dashboard-scan is CastRay's dashboard-scan
// discovery strategy: it probes configured hosts and ports for Ray dashboards
// and reports what their HTTP API says about each cluster.
package main

import (
	"github.com/castray/castray/plugins/discovery/dashboard-scan/dashscan"
	"github.com/castray/castray/sdk"
)

func main() { sdk.ServeDiscovery(dashscan.New(sdk.Logger())) }
