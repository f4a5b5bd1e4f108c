package main

import (
	"context"
	"errors"
)

func cmdBench(ctx context.Context, args []string, std stdio) error {
	return errors.New("not built yet")
}
