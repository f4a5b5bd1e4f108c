package devstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hookbridge/hookbridge/internal/sample"
)

// Secrets are the signing secrets `dev` uses where the environment sets
// none. They are kept in the data directory so that `send-sample` (and a
// restarted dev) use the same ones.
type Secrets struct {
	PiqueSecret         string `json:"pique_secret"`
	ProductAgentsToken  string `json:"product_agents_token"`
	KlaviyoFlowToken    string `json:"klaviyo_flow_token"`
	KlaviyoSystemSecret string `json:"klaviyo_system_secret"`
}

// SecretsFile is where dev keeps its secrets inside the data directory.
func SecretsFile(dataDir string) string { return filepath.Join(dataDir, "dev-secrets.json") }

// LoadSecrets reads the dev secrets of dataDir.
func LoadSecrets(dataDir string) (Secrets, error) {
	var s Secrets
	raw, err := os.ReadFile(SecretsFile(dataDir))
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, fmt.Errorf("devstack: %s is corrupt: %w", SecretsFile(dataDir), err)
	}
	return s, nil
}

// LoadOrCreateSecrets returns dataDir's dev secrets, making them the first time.
func LoadOrCreateSecrets(dataDir string) (Secrets, error) {
	s, err := LoadSecrets(dataDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	if err == nil && s.KlaviyoFlowToken != "" && s.KlaviyoSystemSecret != "" {
		return s, nil
	}
	// New, or written before the Klaviyo routes: fill in what is missing.
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	fill(&s.PiqueSecret, sample.NewSvixSecret())
	fill(&s.ProductAgentsToken, sample.NewToken())
	fill(&s.KlaviyoFlowToken, sample.NewToken())
	fill(&s.KlaviyoSystemSecret, sample.NewToken())
	raw, _ := json.MarshalIndent(s, "", "  ")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return s, err
	}
	return s, os.WriteFile(SecretsFile(dataDir), raw, 0o600)
}
