//go:build linux

package main

import (
	"context"
	mrand "math/rand"
)

func churnPhase(ctx context.Context, rep *report, o options, rng *mrand.Rand, dir string) error {
	return nil
}
