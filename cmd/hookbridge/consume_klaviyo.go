package main

import (
	"context"
	"errors"
)

// runKlaviyo runs the klaviyo consumer group until ctx ends.
func runKlaviyo(ctx context.Context, env consumerEnv) error {
	return errors.New("the klaviyo consumer is not built yet")
}
