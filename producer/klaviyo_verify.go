package producer

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/hookbridge/hookbridge/internal/config"
)

// authError is a verification failure with its own rejection reason (the
// reason label of hookbridge_receiver_rejections_total).
type authError struct {
	reason string
	err    error
}

func (e *authError) Error() string { return e.err.Error() }
func (e *authError) Unwrap() error { return e.err }

func refuse(reason, format string, args ...any) error {
	return &authError{reason: reason, err: fmt.Errorf("%w: "+format, append([]any{errUnauthorized}, args...)...)}
}

// rejectReason is the rejection reason of a verification failure.
func rejectReason(err error) string {
	var ae *authError
	if errors.As(err, &ae) {
		return ae.reason
	}
	return "unauthorized"
}

// Klaviyo system webhook headers.
const (
	headerKlaviyoSignature = "Klaviyo-Signature"
	headerKlaviyoTimestamp = "Klaviyo-Timestamp"
	headerKlaviyoWebhookID = "Klaviyo-Webhook-Id"
)

// klaviyoVerifier checks a Klaviyo system webhook: Klaviyo-Signature is the
// lowercase hex HMAC-SHA256, keyed by the webhook's secret_key, of the raw
// body followed directly by Klaviyo-Timestamp as received; the timestamp
// is within the tolerance; and meta.klaviyo_webhook_id equals
// Klaviyo-Webhook-Id (Klaviyo calls a mismatch malicious).
type klaviyoVerifier struct {
	keys      [][]byte
	tolerance time.Duration // 0: no check
	now       func() time.Time
}

func newKlaviyoVerifier(c config.KlaviyoSystemSource, now func() time.Time) (*klaviyoVerifier, error) {
	v := &klaviyoVerifier{now: now}
	if c.Tolerance != nil {
		v.tolerance = *c.Tolerance
	}
	for _, s := range c.Secrets {
		v.keys = append(v.keys, []byte(s.Reveal()))
	}
	if len(v.keys) == 0 {
		return nil, errors.New("no secret configured")
	}
	return v, nil
}

func (v *klaviyoVerifier) Verify(body []byte, h Headers) error {
	sig, ts, id := h.Get(headerKlaviyoSignature), h.Get(headerKlaviyoTimestamp), h.Get(headerKlaviyoWebhookID)
	for name, val := range map[string]string{headerKlaviyoSignature: sig, headerKlaviyoTimestamp: ts, headerKlaviyoWebhookID: id} {
		if val == "" {
			return refuse("unauthorized", "missing %s header", name)
		}
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return refuse("unauthorized", "%s is not hex", headerKlaviyoSignature)
	}
	ok := false
	for _, k := range v.keys {
		m := hmac.New(sha256.New, k)
		m.Write(body)
		m.Write([]byte(ts))
		ok = ok || hmac.Equal(m.Sum(nil), got)
	}
	if !ok {
		return refuse("unauthorized", "%s does not match the body and %s", headerKlaviyoSignature, headerKlaviyoTimestamp)
	}
	if v.tolerance > 0 {
		at, err := parseKlaviyoTime(ts)
		if err != nil {
			return refuse("stale_timestamp", "%s %q is not a time", headerKlaviyoTimestamp, ts)
		}
		if d := v.now().Sub(at); d > v.tolerance || d < -v.tolerance {
			return refuse("stale_timestamp", "%s is %s away from now, beyond the %s tolerance", headerKlaviyoTimestamp, d.Round(time.Second), v.tolerance)
		}
	}
	// Authenticated: now the body may be read.
	var meta struct {
		Meta struct {
			WebhookID *string `json:"klaviyo_webhook_id"`
		} `json:"meta"`
	}
	if json.Unmarshal(body, &meta) == nil && (meta.Meta.WebhookID == nil || *meta.Meta.WebhookID != id) {
		return refuse("webhook_id_mismatch", "meta.klaviyo_webhook_id does not equal the %s header", headerKlaviyoWebhookID)
	}
	return nil // a body that does not parse gets 400 from the mapper
}

// parseKlaviyoTime reads a timestamp leniently: an HTTP date (what Klaviyo
// sends), RFC 3339, or Unix seconds or milliseconds.
func parseKlaviyoTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > 1e11 { // later than 5138 in seconds: milliseconds
			return time.UnixMilli(n), nil
		}
		return time.Unix(n, 0), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return http.ParseTime(s)
}
