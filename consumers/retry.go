package consumers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

// Transient reports whether err looks like the schema registry or the
// network being down rather than like a bad record: a record is only
// poison when its bytes are.
func Transient(err error) bool {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode >= 500 || re.StatusCode == http.StatusTooManyRequests
	}
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne)
}

// Retry calls fn until it succeeds, fails with an error retryable says
// retrying cannot fix (returned as it is), or ctx ends. It waits
// delay(attempt) between attempts and logs each retry at warn: what names
// the work, and the errors retried are the infrastructure's (a registry or
// store unreachable), not the event's.
func Retry(ctx context.Context, log *slog.Logger, what string, delay func(attempt int) time.Duration, retryable func(error) bool, fn func() error) error {
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || !retryable(err) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w (gave up: %w)", what, err, ctx.Err())
		}
		d := delay(attempt)
		log.Warn("retrying", "what", what, "in", d, "err", err)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w (gave up: %w)", what, err, ctx.Err())
		case <-t.C:
		}
	}
}
