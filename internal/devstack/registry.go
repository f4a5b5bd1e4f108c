package devstack

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sort"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

type savedSchema struct {
	Subject string    `json:"subject"`
	Version int       `json:"version"`
	ID      int       `json:"id"`
	Schema  sr.Schema `json:"schema"`
}

func openRegistry(path string, log *slog.Logger) (*persistentRegistry, error) {
	r := &persistentRegistry{Registry: srfake.NewRegistry(), path: path, log: log}
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("devstack: reading %s: %w", path, err)
	}
	var saved []savedSchema
	if err := json.Unmarshal(raw, &saved); err != nil {
		return nil, fmt.Errorf("devstack: %s is corrupt (delete it and the kafka/ folder beside it to start over): %w", path, err)
	}
	seeded := map[int]bool{}
	for _, s := range saved {
		if !seeded[s.ID] {
			r.SeedSchema(s.Subject, s.Version, s.ID, s.Schema)
			seeded[s.ID] = true
			continue
		}
		// A schema under a second subject keeps its id (as .deduped
		// subjects share the raw ones'); the API gives it that id again.
		if err := r.register(s); err != nil {
			return nil, fmt.Errorf("devstack: restoring %s version %d from %s: %w", s.Subject, s.Version, path, err)
		}
	}
	return r, nil
}

// register adds s to its subject through the registry's own API.
func (r *persistentRegistry) register(s savedSchema) error {
	body, err := json.Marshal(s.Schema)
	if err != nil {
		return err
	}
	rec := &recorder{header: http.Header{}}
	req, _ := http.NewRequest(http.MethodPost, "/subjects/"+url.PathEscape(s.Subject)+"/versions", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	r.Handler().ServeHTTP(rec, req)
	var got struct {
		ID int `json:"id"`
	}
	if err := json.Unmarshal(rec.body, &got); err != nil || got.ID != s.ID {
		return fmt.Errorf("the registry answered %s, want id %d", rec.body, s.ID)
	}
	return nil
}

// ServeHTTP serves the registry API and saves the state after changes.
func (r *persistentRegistry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.Handler().ServeHTTP(w, req)
	if req.Method != http.MethodGet {
		if err := r.save(); err != nil {
			r.log.Error("embedded schema registry: saving state failed", "err", err)
		}
	}
}

// save writes every version of every subject, oldest first, through a
// temporary file and a rename so a crash leaves the old or the new state.
func (r *persistentRegistry) save() error {
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	var saved []savedSchema
	for _, subject := range r.subjects() {
		for v := 1; ; v++ {
			ss, ok := r.GetSchema(subject, v)
			if !ok {
				break
			}
			saved = append(saved, savedSchema{Subject: subject, Version: v, ID: ss.ID, Schema: ss.Schema})
		}
	}
	raw, err := json.MarshalIndent(saved, "", "  ")
	if err != nil {
		return err
	}
	tmp := r.path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, r.path)
}

// subjects lists the registry's subjects through its own API.
func (r *persistentRegistry) subjects() []string {
	rec := &recorder{header: http.Header{}}
	req, _ := http.NewRequest(http.MethodGet, "/subjects", nil)
	r.Handler().ServeHTTP(rec, req)
	var subjects []string
	_ = json.Unmarshal(rec.body, &subjects)
	sort.Strings(subjects)
	return subjects
}

// recorder is a minimal in-memory http.ResponseWriter.
type recorder struct {
	header http.Header
	body   []byte
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { r.body = append(r.body, b...); return len(b), nil }
func (r *recorder) WriteHeader(int)             {}
