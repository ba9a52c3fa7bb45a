// Command castray-transfer-ray is CastRay's transfer backend for Ray nodes
// and actors: it delivers a file onto chosen nodes of a connected cluster
// through a Ray job (Jobs API) and Ray's object store.
package main

import (
	"github.com/castray/castray/plugins/transfer/ray/jobcast"
	"github.com/castray/castray/sdk"
)

func main() { sdk.ServeTransfer(jobcast.New(sdk.Logger())) }
