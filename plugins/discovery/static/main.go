// Command castray-discovery-static is CastRay's static discovery strategy:
// it reports the Ray clusters listed in its configuration (dashboard URLs
// and/or GCS addresses, for remote clusters no scan can find), each checked
// against what the cluster itself answers.
package main

import (
	"github.com/castray/castray/plugins/discovery/static/verify"
	"github.com/castray/castray/sdk"
)

func main() { sdk.ServeDiscovery(verify.New(sdk.Logger())) }
