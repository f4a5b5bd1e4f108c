package producer

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookbridge/hookbridge/internal/config"
)

// svixTolerance is how far a Svix timestamp may be from now, either way.
const svixTolerance = 5 * time.Minute

// The checks' messages match the Svix library's (lower-cased), so a
// sender sees the same reason whichever side verified.
var (
	errSvixHeaders  = errors.New("missing required headers")
	errSvixInvalid  = errors.New("invalid signature headers")
	errSvixTooOld   = errors.New("message timestamp too old")
	errSvixTooNew   = errors.New("message timestamp too new")
	errSvixNoMatch  = errors.New("no matching signature found")
	svixSignedBytes = base64.StdEncoding.EncodedLen(sha256.Size)
)

// svixVerifier checks Svix / Standard Webhooks signatures (svix-* or
// webhook-* headers, 5-minute tolerance both ways) against any of several
// secrets, so a secret can be rotated without dropping webhooks. It
// accepts exactly what the Svix library accepts (the tests hold it to
// that) but keys each HMAC once per pooled state and formats nothing per
// call: the library's fmt.Sprintf of id.timestamp.body was most of its cost.
type svixVerifier struct{ keys []*svixKey }

// svixKey is one secret's pool of keyed HMAC states; Reset brings a state
// back to just after keying, so a webhook costs only its own bytes.
type svixKey struct{ pool sync.Pool }

// svixMAC is one pooled HMAC state with the scratch space a check needs,
// kept with it so nothing escapes to the heap per call.
type svixMAC struct {
	h      hash.Hash
	prefix []byte // id '.' timestamp '.'
	sum    [sha256.Size]byte
	b64    [44]byte
}

func newSvixVerifier(secrets []config.Secret) (*svixVerifier, error) {
	v := &svixVerifier{}
	for i, s := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s.Reveal(), "whsec_"))
		if err != nil {
			return nil, fmt.Errorf("secret %d is not a valid whsec_ secret (base64 after the prefix)", i)
		}
		k := &svixKey{}
		k.pool.New = func() any { return &svixMAC{h: hmac.New(sha256.New, key)} }
		v.keys = append(v.keys, k)
	}
	if len(v.keys) == 0 {
		return nil, errors.New("no signing secret configured")
	}
	return v, nil
}

func (v *svixVerifier) Verify(body []byte, h Headers) error {
	if err := v.verify(body, h, time.Now()); err != nil {
		return fmt.Errorf("%w: svix signature: %w", errUnauthorized, err)
	}
	return nil
}

func (v *svixVerifier) verify(body []byte, h Headers, now time.Time) error {
	id, sigs, tsText := h.Get("svix-id"), h.Get("svix-signature"), h.Get("svix-timestamp")
	if id == "" || sigs == "" || tsText == "" {
		id, sigs, tsText = h.Get("webhook-id"), h.Get("webhook-signature"), h.Get("webhook-timestamp")
		if id == "" || sigs == "" || tsText == "" {
			return errSvixHeaders
		}
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return errSvixInvalid
	}
	if now.Sub(time.Unix(ts, 0)) > svixTolerance {
		return errSvixTooOld
	}
	if ts > now.Add(svixTolerance).Unix() {
		return errSvixTooNew
	}
	for _, k := range v.keys {
		if k.matches(id, ts, body, sigs) {
			return nil
		}
	}
	return errSvixNoMatch
}

// matches reports whether any v1 signature in sigs (space-separated
// "version,base64" pairs) is this key's HMAC of id.ts.body.
func (k *svixKey) matches(id string, ts int64, body []byte, sigs string) bool {
	m := k.pool.Get().(*svixMAC)
	defer k.pool.Put(m)
	// The signed timestamp is the parsed number, as the library formats
	// it, not the header's text ("+1614265330" signs as "1614265330").
	m.prefix = append(append(m.prefix[:0], id...), '.')
	m.prefix = append(strconv.AppendInt(m.prefix, ts, 10), '.')
	m.h.Reset()
	m.h.Write(m.prefix)
	m.h.Write(body)
	base64.StdEncoding.Encode(m.b64[:], m.h.Sum(m.sum[:0]))
	want := m.b64[:svixSignedBytes]
	for rest := sigs; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, " ")
		version, sig, ok := strings.Cut(pair, ",")
		if !ok || version != "v1" {
			continue
		}
		sig, _, _ = strings.Cut(sig, ",")
		if equalConstantTime(sig, want) {
			return true
		}
	}
	return false
}

// equalConstantTime compares a signature from a header with the expected
// one in time that depends only on their lengths (which are public).
func equalConstantTime(got string, want []byte) bool {
	if len(got) != len(want) {
		return false
	}
	var diff byte
	for i := range want {
		diff |= got[i] ^ want[i]
	}
	return subtle.ConstantTimeByteEq(diff, 0) == 1
}
