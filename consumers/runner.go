package consumers

import (
	"context"
	"errors"
)

// Run consumes g until ctx ends or a Processor returns an error.
func Run(ctx context.Context, opts Options, g Group) error {
	return errors.New("consumers: the runner is not built yet")
}
