package discovery

import (
	"context"
	"errors"
	"testing"
)

// OnRound hears of every Discover call: the result of a round that ran,
// the error of one that could not.
func TestOnRoundHearsEveryCall(t *testing.T) {
	type call struct {
		res *Result
		err error
	}
	var calls []call
	m := New(Options{Plugins: plugins{"good": &fake{}, "broken": &fake{err: errors.New("crashed")}},
		OnRound: func(res *Result, err error) { calls = append(calls, call{res, err}) }})
	res, err := m.Discover(context.Background(), Request{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Discover(context.Background(), Request{Plugins: []string{"zzz"}}); err == nil {
		t.Fatal("an unknown plugin ran")
	}
	if len(calls) != 2 || calls[0].res != res || calls[0].err != nil || calls[1].res != nil || calls[1].err == nil {
		t.Fatalf("calls = %+v", calls)
	}
	if calls[0].res.Plugins["broken"].Error == "" || calls[0].res.Plugins["good"].Error != "" {
		t.Fatalf("plugin runs = %+v", calls[0].res.Plugins)
	}
}
