package producer

import (
	"fmt"

	"github.com/hookbridge/hookbridge/internal/config"
)

// sourceSpec is one entry of the table of sources: everything the receiver
// knows about a route. Adding a source is adding an entry here (and its
// mapping file, and its configuration in internal/config).
type sourceSpec struct {
	name, path string
	// verifier builds the source's authentication from its configuration.
	verifier func(config.Receiver) (Verifier, error)
	mapFn    mapper
	// rateLimit, spool and bodyLimit read the source's settings.
	rateLimit func(config.Receiver) config.RateLimit
	spool     func(config.Receiver) bool
	bodyLimit func(config.Receiver) config.ByteSize
}

// sourceTable lists every source the receiver serves.
var sourceTable = []sourceSpec{
	{
		name: "pique", path: "/webhooks/pique",
		verifier: func(rc config.Receiver) (Verifier, error) {
			v, err := newSvixVerifier(rc.Pique.Secrets)
			return v, fieldErr("receiver.pique.secrets", err)
		},
		mapFn:     one(mapPique),
		rateLimit: func(rc config.Receiver) config.RateLimit { return rc.Pique.RateLimit },
		spool:     func(rc config.Receiver) bool { return rc.Pique.Spool },
	},
	{
		name: "product-agents", path: "/webhooks/product-agents",
		verifier: func(rc config.Receiver) (Verifier, error) {
			v, err := productAgentsVerifier(rc.ProductAgents)
			return v, fieldErr("receiver.product_agents (auth "+rc.ProductAgents.Auth+")", err)
		},
		mapFn:     one(mapProductAgents),
		rateLimit: func(rc config.Receiver) config.RateLimit { return rc.ProductAgents.RateLimit },
		spool:     func(rc config.Receiver) bool { return rc.ProductAgents.SpoolEnabled() },
	},
}

// buildSources builds the table from the configuration; without verifiers
// (DrainFile, which takes webhooks verified long ago) no secrets are needed.
func (s *Server) buildSources(verifiers bool) error {
	rc := s.opts.Receiver
	s.sources = nil
	for _, spec := range sourceTable {
		src := &source{name: spec.name, path: spec.path, mapFn: spec.mapFn, limiter: limiter(spec.rateLimit(rc)),
			deadline: rc.AckDeadline, spool: spec.spool(rc), bodyLimit: rc.BodyLimit}
		if spec.bodyLimit != nil {
			src.bodyLimit = spec.bodyLimit(rc)
		}
		if src.spool {
			src.deadline = rc.Spool.Deadline
		}
		if verifiers {
			v, err := spec.verifier(rc)
			if err != nil {
				return err
			}
			src.verifier = v
		}
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
