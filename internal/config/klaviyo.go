package config

// Klaviyo configures `hookbridge consume klaviyo`.
type Klaviyo struct {
	Group   string `yaml:"group"`    // consumer group id; default hookbridge-klaviyo
	APIKey  Secret `yaml:"api_key"`  // HOOKBRIDGE_KLAVIYO_API_KEY (or _FILE)
	BaseURL string `yaml:"base_url"` // HOOKBRIDGE_KLAVIYO_BASE_URL; default https://a.klaviyo.com
	DryRun  bool   `yaml:"dry_run"`  // HOOKBRIDGE_KLAVIYO_DRY_RUN: log what would be sent
}

func (k *Klaviyo) setDefaults() {
	orDefault(&k.Group, "hookbridge-klaviyo")
	orDefault(&k.BaseURL, "https://a.klaviyo.com")
}

func (k *Klaviyo) applyEnv(env Env) error {
	envString(env, "HOOKBRIDGE_KLAVIYO_BASE_URL", &k.BaseURL)
	if err := envBool(env, "HOOKBRIDGE_KLAVIYO_DRY_RUN", &k.DryRun); err != nil {
		return err
	}
	return envSecret(env, "HOOKBRIDGE_KLAVIYO_API_KEY", &k.APIKey)
}

func (k *Klaviyo) validate() error { return nil }
