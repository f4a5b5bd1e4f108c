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
// network being down, or the registry refusing hookbridge's credentials,
// rather than like a bad record: a record is only poison when its bytes
// are. A 404 (an unknown schema id) is the record's fault.
func Transient(err error) bool {
	if re, ok := errors.AsType[*sr.ResponseError](err); ok {
		return re.StatusCode >= 500 || re.StatusCode == http.StatusTooManyRequests || registryRefused(re)
	}
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne)
}

// Retry calls fn until it succeeds, fails with an error retryable says
// retrying cannot fix (returned as it is), or ctx ends. It waits
// delay(attempt) between attempts and logs each retry at warn: what names
// the work, and the errors retried are the infrastructure's (a registry or
// store unreachable), not the event's. A registry refusing the credentials
// is logged at error instead, with what to check: no record gets through
// until someone fixes them.
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
		if re, ok := errors.AsType[*sr.ResponseError](err); ok && registryRefused(re) {
			log.Error("the schema registry refuses hookbridge's credentials; nothing is consumed until it accepts them: "+
				"check schema_registry.username and schema_registry.password, and that this user may read schemas; retrying",
				"what", what, "status", re.StatusCode, "in", d, "err", err)
		} else {
			log.Warn("retrying", "what", what, "in", d, "err", err)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w (gave up: %w)", what, err, ctx.Err())
		case <-t.C:
		}
	}
}

// registryRefused reports a registry answer of 401 or 403: credentials
// missing, wrong or without the right to read schemas.
func registryRefused(re *sr.ResponseError) bool {
	return re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden
}
