package producer

import (
	"fmt"
	"strings"
	"time"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/schemas"
)

// sourceSpec is one entry of the table of sources: everything the receiver
// knows about a route. Adding a source is adding an entry here (and its
// mapping file, and its configuration in internal/config).
type sourceSpec struct {
	name, path string
	// verifier builds the source's authentication from its configuration.
	verifier func(rc config.Receiver, now func() time.Time) (Verifier, error)
	mapFn    func(config.Receiver) mapper
	// enabled reports whether the source is configured; nil: always.
	enabled func(config.Receiver) bool
	// rateLimit, spool and bodyLimit read the source's settings.
	rateLimit func(config.Receiver) config.RateLimit
	spool     func(config.Receiver) bool
	bodyLimit func(config.Receiver) config.ByteSize
	// anyContentType reads the body as JSON whatever its Content-Type says
	// (a sender that may not set it); other sources get 415 without
	// application/json.
	anyContentType bool
}

// sourceTable lists every source the receiver serves.
var sourceTable = []sourceSpec{
	{
		name: "pique", path: "/webhooks/pique",
		verifier: func(rc config.Receiver, _ func() time.Time) (Verifier, error) {
			v, err := newSvixVerifier(rc.Pique.Secrets)
			return v, fieldErr("receiver.pique.secrets", err)
		},
		mapFn:     static(one(mapPique)),
		rateLimit: func(rc config.Receiver) config.RateLimit { return rc.Pique.RateLimit },
		spool:     func(rc config.Receiver) bool { return rc.Pique.Spool },
	},
	{
		name: "product-agents", path: "/webhooks/product-agents",
		verifier: func(rc config.Receiver, _ func() time.Time) (Verifier, error) {
			v, err := productAgentsVerifier(rc.ProductAgents)
			return v, fieldErr("receiver.product_agents (auth "+rc.ProductAgents.Auth+")", err)
		},
		mapFn:     static(one(mapProductAgents)),
		rateLimit: func(rc config.Receiver) config.RateLimit { return rc.ProductAgents.RateLimit },
		spool:     func(rc config.Receiver) bool { return rc.ProductAgents.SpoolEnabled() },
	},
	{
		name: schemas.SourceKlaviyoFlow, path: "/webhooks/klaviyo/flow",
		enabled: func(rc config.Receiver) bool { return len(rc.Klaviyo.Flow.Tokens) > 0 },
		// Whether Klaviyo sets Content-Type on flow webhooks is not
		// documented; the merchant may not add it either.
		anyContentType: true,
		verifier: func(rc config.Receiver, _ func() time.Time) (Verifier, error) {
			v, err := newTokenVerifier(rc.Klaviyo.Flow.Header, rc.Klaviyo.Flow.Tokens...)
			return v, fieldErr("receiver.klaviyo.flow.tokens", err)
		},
		mapFn:     func(rc config.Receiver) mapper { return mapKlaviyoFlow(rc.Klaviyo.Flow.Paths) },
		rateLimit: func(rc config.Receiver) config.RateLimit { return rc.Klaviyo.Flow.RateLimit },
		spool:     func(rc config.Receiver) bool { return rc.Klaviyo.Flow.Spool },
	},
	{
		name: schemas.SourceKlaviyoSystem, path: "/webhooks/klaviyo/system",
		enabled: func(rc config.Receiver) bool { return len(rc.Klaviyo.System.Secrets) > 0 },
		verifier: func(rc config.Receiver, now func() time.Time) (Verifier, error) {
			v, err := newKlaviyoVerifier(rc.Klaviyo.System, now)
			return v, fieldErr("receiver.klaviyo.system.secrets", err)
		},
		mapFn:     static(mapKlaviyoSystem),
		rateLimit: func(rc config.Receiver) config.RateLimit { return rc.Klaviyo.System.RateLimit },
		spool:     func(rc config.Receiver) bool { return rc.Klaviyo.System.SpoolEnabled() },
		bodyLimit: func(rc config.Receiver) config.ByteSize { return rc.Klaviyo.System.BodyLimit },
	},
}

// static is the mapper of a source whose mapping needs no configuration.
func static(m mapper) func(config.Receiver) mapper { return func(config.Receiver) mapper { return m } }

// buildSources builds the table from the configuration; without verifiers
// (DrainFile, which takes webhooks verified long ago) no secrets are needed.
func (s *Server) buildSources(verifiers bool) error {
	rc := s.opts.Receiver
	s.sources = nil
	for _, spec := range sourceTable {
		if verifiers && spec.enabled != nil && !spec.enabled(rc) {
			continue // not configured: not served
		}
		src := &source{name: spec.name, path: spec.path, mapFn: spec.mapFn(rc), limiter: limiter(spec.rateLimit(rc)),
			deadline: rc.AckDeadline, spool: spec.spool(rc), bodyLimit: rc.BodyLimit, anyContentType: spec.anyContentType}
		if spec.bodyLimit != nil {
			src.bodyLimit = spec.bodyLimit(rc)
		}
		if src.spool {
			src.deadline = rc.Spool.Deadline
		}
		if verifiers {
			v, err := spec.verifier(rc, s.opts.Now)
			if err != nil {
				return err
			}
			src.verifier = v
		}
		// At zero from the start, so the first panic is an increase.
		s.metrics.panics.WithLabelValues(src.name)
		s.sources = append(s.sources, src)
	}
	return nil
}

// maxBodyLimit is Fiber's app-wide body limit: the largest source's, each
// handler enforcing its own.
func (s *Server) maxBodyLimit() config.ByteSize {
	limit := s.opts.Receiver.BodyLimit
	for _, src := range s.sources {
		limit = max(limit, src.bodyLimit)
	}
	return limit
}

// bodyLimitFor is the body limit of the route uri names: its source's, else
// receiver.body_limit.
func (s *Server) bodyLimitFor(uri string) config.ByteSize {
	path, _, _ := strings.Cut(uri, "?")
	if src := s.sourceAt(path); src != nil {
		return src.bodyLimit
	}
	return s.opts.Receiver.BodyLimit
}

// source is the source named name (a spooled delivery's), or nil.
func (s *Server) source(name string) *source {
	for _, src := range s.sources {
		if src.name == name {
			return src
		}
	}
	return nil
}

// sourceAt is the source served at path, or nil.
func (s *Server) sourceAt(path string) *source {
	for _, src := range s.sources {
		if src.path == path {
			return src
		}
	}
	return nil
}

// sourceLabel keeps metric labels to the known sources.
func sourceLabel(name string) string {
	for _, spec := range sourceTable {
		if spec.name == name {
			return name
		}
	}
	return "other"
}

// fieldErr names the configuration field a verifier could not be built from.
func fieldErr(field string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", field, err)
}
