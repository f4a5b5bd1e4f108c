package main

import (
	"context"
	"errors"
)

// runWarehouse runs the warehouse consumer group until ctx ends.
func runWarehouse(ctx context.Context, env consumerEnv) error {
	return errors.New("the warehouse consumer is not built yet")
}
