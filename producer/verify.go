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

// tokenVerifier checks a static token in constant time against any of
// several (for rotation): in Authorization: Bearer <token>, or as the
// whole value of another header.
type tokenVerifier struct {
	header string
	wants  [][32]byte
}

func newTokenVerifier(header string, tokens ...config.Secret) (*tokenVerifier, error) {
	v := &tokenVerifier{header: header}
	for _, t := range tokens {
		if t != "" {
			v.wants = append(v.wants, sha256.Sum256([]byte(t.Reveal())))
		}
	}
	if len(v.wants) == 0 {
		return nil, errors.New("no token configured")
	}
	return v, nil
}

func (v *tokenVerifier) Verify(_ []byte, h Headers) error {
	got := strings.TrimSpace(h.Get(v.header))
	if strings.EqualFold(v.header, "Authorization") {
		scheme, tok, ok := strings.Cut(got, " ")
		// The scheme is case-insensitive (RFC 7235): bearer and BEARER too.
		if got = strings.TrimLeft(tok, " "); !ok || !strings.EqualFold(scheme, "Bearer") {
			got = ""
		}
	}
	if got == "" {
		if strings.EqualFold(v.header, "Authorization") {
			return fmt.Errorf("%w: missing Authorization: Bearer token", errUnauthorized)
		}
		return fmt.Errorf("%w: missing %s header", errUnauthorized, v.header)
	}
	// Comparing digests keeps the comparison constant-time in the length too.
	sum := sha256.Sum256([]byte(got))
	match := 0
	for _, want := range v.wants {
		match |= subtle.ConstantTimeCompare(sum[:], want[:])
	}
	if match != 1 {
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
		return newTokenVerifier(c.TokenHeader, c.Token)
	}
}
