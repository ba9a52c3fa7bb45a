// Command castray-transfer-local is CastRay's transfer backend for local
// nodes: it delivers a file into each target node's inbox folder.
package main

import (
	"github.com/castray/castray/plugins/transfer/local/delivery"
	"github.com/castray/castray/sdk"
)

func main() { sdk.ServeTransfer(delivery.New(sdk.Logger())) }
