package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/castray/castray/host/api/client"
)

// newProgress returns a progress container drawing on stderr, or nil when
// stderr is not a terminal (piped output gets no bars).
func (a *app) newProgress(ctx context.Context) *mpb.Progress {
	if !a.isTTY(a.stderr) {
		return nil
	}
	return mpb.NewWithContext(ctx, mpb.WithOutput(a.stderr), mpb.WithAutoRefresh(), mpb.WithWidth(100))
}

// byteBar adds a bar counting bytes, labelled name, with a status text
// (from status, when set) after the percentage.
func byteBar(p *mpb.Progress, name string, total int64, status func() string) *mpb.Bar {
	appends := []decor.Decorator{decor.Percentage(decor.WCSyncSpace)}
	if status != nil {
		appends = append(appends, decor.Any(func(decor.Statistics) string { return " " + status() }))
	}
	return p.AddBar(total,
		mpb.PrependDecorators(
			decor.Name(name, decor.WCSyncSpaceR),
			decor.Counters(decor.SizeB1024(0), "% .1f / % .1f", decor.WCSyncSpace),
		),
		mpb.AppendDecorators(appends...),
	)
}

// humanBytes renders a size briefly: "1.5 MiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// transferBars draws one bar per target of a transfer from successive
// records, and ends each bar when its target ends.
//
// mu guards the map only. A bar's status text is read by mpb's render
// goroutine through an atomic, never under mu: the bar methods called
// under mu (Completed, SetCurrent...) wait for that goroutine, so a
// decorator taking mu would deadlock with them (it did, under load).
type transferBars struct {
	p    *mpb.Progress
	mu   sync.Mutex
	bars map[string]*targetBar
}

type targetBar struct {
	bar    *mpb.Bar
	status atomic.Pointer[string]
}

func newTransferBars(p *mpb.Progress) *transferBars {
	return &transferBars{p: p, bars: map[string]*targetBar{}}
}

// update shows a record; nil-safe so callers need not check for a TTY.
func (t *transferBars) update(r *client.TransferRecord) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tg := range r.Targets {
		tb, ok := t.bars[tg.NodeID]
		if !ok {
			tb = &targetBar{}
			tb.status.Store(new(string))
			// Made with no total, then given one: mpb does not end such a
			// bar when its bytes are all there, so it stays up (and
			// redrawn) until its target ends, with the target's final
			// state in its last frame ("completed", not "running").
			tb.bar = byteBar(t.p, tg.NodeID, 0, func() string { return *tb.status.Load() })
			tb.bar.SetTotal(r.File.Size, false)
			t.bars[tg.NodeID] = tb
		}
		status := tg.State
		if tg.Error != "" {
			status = tg.State + ": " + tg.Error
		}
		tb.status.Store(&status)
		b := tb.bar
		if b.Completed() || b.Aborted() {
			continue
		}
		b.SetCurrent(tg.BytesDone)
		switch {
		case tg.State == "completed":
			b.SetTotal(-1, true)
		case client.TransferStateEnded(tg.State):
			b.Abort(false)
		}
	}
}

// progress moves a target's bar that the polls already made (from a
// transfer_progress event).
func (t *transferBars) progress(node string, done int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tb, ok := t.bars[node]; ok && !tb.bar.Completed() && !tb.bar.Aborted() && done > tb.bar.Current() {
		tb.bar.SetCurrent(done)
	}
}

// finish ends every bar still drawn and waits for the last frame.
func (t *transferBars) finish() {
	if t == nil {
		return
	}
	t.mu.Lock()
	for _, tb := range t.bars {
		if !tb.bar.Completed() && !tb.bar.Aborted() {
			tb.bar.Abort(false)
		}
	}
	t.mu.Unlock()
	t.p.Wait()
}
