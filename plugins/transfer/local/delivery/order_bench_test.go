package delivery_test

import (
	"context"
	"fmt"
	"testing"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/plugins/transfer/local/delivery"
	"github.com/castray/castray/sdk"
	"github.com/castray/castray/sdk/plugintest"
)

func BenchmarkOrder(b *testing.B) {
	spec := benchSource(b)
	g := plugintest.Transfer(b, delivery.New(hclog.NewNullLogger()))
	d := delivery.New(hclog.NewNullLogger())
	for k, c := range []sdk.Transferer{d, g, d, g, d, g} {
		b.Run(fmt.Sprintf("%d-%v", k, k%2 == 1), func(b *testing.B) {
			targets := benchInboxes(b, 1)
			req := &sdk.SendRequest{Mode: sdk.Broadcast, Targets: targets, File: spec}
			b.SetBytes(benchSize)
			i := 0
			for b.Loop() {
				i++
				req.TransferId = fmt.Sprintf("o%d-%d", k, i)
				if s, err := c.Send(context.Background(), req, nullSink{}); err != nil || s.GetSucceeded() != 1 {
					b.Fatal(s, err)
				}
				b.StopTimer()
				removeDelivered(b, targets)
				b.StartTimer()
			}
		})
	}
}
