package main

import (
	"context"
	"errors"
)

// runDedupe runs the dedupe consumer group until ctx ends.
func runDedupe(ctx context.Context, env consumerEnv) error {
	return errors.New("the dedupe consumer is not built yet")
}
