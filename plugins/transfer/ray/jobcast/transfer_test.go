package jobcast

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/castray/castray/sdk"
)

// orderSink records what the transfer reports, in order.
type orderSink struct{ calls []string }

func (s *orderSink) Progress(p *sdk.TargetProgress) error {
	s.calls = append(s.calls, fmt.Sprintf("progress %s %d", p.GetNodeId(), p.GetBytesDone()))
	return nil
}

func (s *orderSink) Result(r *sdk.TargetResult) error {
	s.calls = append(s.calls, "result "+r.GetNodeId())
	return nil
}

// A target done between two of the driver's progress reports gets one last
// progress with its bytes before its result; one whose progress already
// said them, or that failed, gets none; nothing is reported after a result.
func TestResultCompletesProgress(t *testing.T) {
	sink := &orderSink{}
	tr := newTransfer(context.Background(), nil, &sdk.SendRequest{File: &sdk.FileSpec{Size: 100}}, Config{}, 0, nil, "", sink)
	tr.result(&sdk.TargetResult{NodeId: "a", State: sdk.TargetDone, Bytes: 100})
	tr.progress("b", 60)
	tr.result(&sdk.TargetResult{NodeId: "b", State: sdk.TargetDone, Bytes: 100})
	tr.progress("c", 100)
	tr.result(&sdk.TargetResult{NodeId: "c", State: sdk.TargetDone, Bytes: 100})
	tr.progress("d", 40)
	tr.result(&sdk.TargetResult{NodeId: "d", State: sdk.TargetFailed, Bytes: 40})
	tr.progress("d", 50)
	tr.result(&sdk.TargetResult{NodeId: "a", State: sdk.TargetDone, Bytes: 100})
	want := "progress a 100, result a, progress b 60, progress b 100, result b, progress c 100, result c, progress d 40, result d"
	if got := strings.Join(sink.calls, ", "); got != want {
		t.Fatalf("reported\n%s\nwant\n%s", got, want)
	}
}
