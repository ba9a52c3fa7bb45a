// Command castray-discovery-ray-status is CastRay's "ray-status" discovery
// strategy: it runs the ray CLI's `ray status` and reads the clusters it
// reports.
package main

import (
	"github.com/castray/castray/plugins/discovery/ray-status/raystatus"
	"github.com/castray/castray/sdk"
)

func main() { sdk.ServeDiscovery(raystatus.New(sdk.Logger())) }
