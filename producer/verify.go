package producer

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/hookbridge/hookbridge/internal/config"
)

// Headers reads request headers by name, case-insensitively.
type Headers interface {
	Get(name string) string
}

// Verifier authenticates a webhook from its raw body and headers. Errors
// are safe to show to the sender: they never contain a secret.
type Verifier interface {
	Verify(body []byte, h Headers) error
}

// errUnauthorized is the cause of every verification failure.
var errUnauthorized = errors.New("unauthorized")

// tokenVerifier checks Authorization: Bearer <token> in constant time.
type tokenVerifier struct{ want [32]byte }

func newTokenVerifier(token config.Secret) (*tokenVerifier, error) {
	if token == "" {
		return nil, errors.New("no token configured")
	}
	return &tokenVerifier{want: sha256.Sum256([]byte(token.Reveal()))}, nil
}

func (v *tokenVerifier) Verify(_ []byte, h Headers) error {
	scheme, got, ok := strings.Cut(strings.TrimSpace(h.Get("Authorization")), " ")
	// The scheme is case-insensitive (RFC 7235): bearer and BEARER too.
	got = strings.TrimLeft(got, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || got == "" {
		return fmt.Errorf("%w: missing Authorization: Bearer token", errUnauthorized)
	}
	// Comparing digests keeps the comparison constant-time in the length too.
	sum := sha256.Sum256([]byte(got))
	if subtle.ConstantTimeCompare(sum[:], v.want[:]) != 1 {
		return fmt.Errorf("%w: wrong token", errUnauthorized)
	}
	return nil
}

// hmacVerifier checks a hex HMAC-SHA256 of the body (optionally prefixed
// "sha256=") in a configurable header, against any of several keys.
type hmacVerifier struct {
	header string
	keys   [][]byte
}

func newHMACVerifier(header string, secrets []config.Secret) (*hmacVerifier, error) {
	v := &hmacVerifier{header: header}
	for _, s := range secrets {
		v.keys = append(v.keys, []byte(s.Reveal()))
	}
	if len(v.keys) == 0 {
		return nil, errors.New("no HMAC key configured")
	}
	return v, nil
}

func (v *hmacVerifier) Verify(body []byte, h Headers) error {
	sig := strings.TrimPrefix(h.Get(v.header), "sha256=")
	got, err := hex.DecodeString(sig)
	if sig == "" || err != nil {
		return fmt.Errorf("%w: missing or non-hex %s header", errUnauthorized, v.header)
	}
	for _, k := range v.keys {
		m := hmac.New(sha256.New, k)
		m.Write(body)
		if hmac.Equal(m.Sum(nil), got) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s does not match the body", errUnauthorized, v.header)
}

// productAgentsVerifier builds the verifier the configured auth mode names.
func productAgentsVerifier(c config.ProductAgentsSource) (Verifier, error) {
	switch c.Auth {
	case "svix":
		return newSvixVerifier(c.Secrets)
	case "hmac":
		return newHMACVerifier(c.HMACHeader, c.Secrets)
	default:
		return newTokenVerifier(c.Token)
	}
}
