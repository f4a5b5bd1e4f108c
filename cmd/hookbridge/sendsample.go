package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/devstack"
	"github.com/hookbridge/hookbridge/internal/sample"
)

func cmdSendSample(ctx context.Context, args []string, std stdio) error {
	fs := newFlags("send-sample --source pique|product-agents [flags]", `
Posts realistic signed sample webhooks, shaped like the senders' documented
examples and varied. Secrets come from HOOKBRIDGE_PIQUE_SECRETS (the first one
signs) and HOOKBRIDGE_PRODUCT_AGENTS_TOKEN, else from the dev secrets that
'hookbridge dev' keeps in --data-dir. --duplicates F re-sends a fraction F of
the webhooks (same body and, for Pique, the same svix-id, as a Svix retry would).`, std)
	source := fs.String("source", "pique", "pique or product-agents")
	url := fs.String("url", "http://127.0.0.1:8080", "receiver base URL")
	count := fs.Int("count", 10, "webhooks to send (duplicates not counted)")
	dups := fs.Float64("duplicates", 0, "fraction of webhooks to send twice, 0 to 1")
	dataDir := fs.String("data-dir", ".hookbridge", "where 'hookbridge dev' keeps its dev secrets")
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "random seed, for repeatable samples")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dups < 0 || *dups > 1 || *count < 1 {
		return errors.New("--count must be at least 1 and --duplicates between 0 and 1")
	}
	sign, err := sampleSigner(*source, *dataDir)
	if err != nil {
		return err
	}
	g := sample.NewGenerator(*seed)
	rng := rand.New(rand.NewPCG(*seed, 1))
	endpoint := strings.TrimRight(*url, "/") + "/webhooks/" + *source
	var sent, accepted, dupSent int
	statuses := map[int]int{}
	for i := 0; i < *count; i++ {
		body, id := sampleBody(g, *source)
		msgID := "msg_" + id
		times := 1
		if rng.Float64() < *dups {
			times, dupSent = 2, dupSent+1
		}
		for range times {
			code, err := postSample(ctx, endpoint, sign(msgID, body), body)
			if err != nil {
				return fmt.Errorf("after %d sent: %w", sent, err)
			}
			sent++
			statuses[code]++
			if code >= 200 && code < 300 {
				accepted++
			}
		}
	}
	fmt.Fprintf(std.out, "sent %d %s webhooks (%d unique, %d duplicates) to %s: %d accepted; statuses %v\n",
		sent, *source, *count, dupSent, endpoint, accepted, statuses)
	if accepted != sent {
		return fmt.Errorf("%d of %d webhooks were not accepted", sent-accepted, sent)
	}
	return nil
}

func sampleBody(g *sample.Generator, source string) ([]byte, string) {
	if source == "pique" {
		return g.Pique(time.Now())
	}
	return g.ProductAgents(time.Now())
}

// sampleSigner returns how to sign a webhook for source.
func sampleSigner(source, dataDir string) (func(msgID string, body []byte) http.Header, error) {
	cfg, err := config.Default(os.LookupEnv)
	if err != nil {
		return nil, err
	}
	rc := cfg.Receiver
	dev, devErr := devstack.LoadSecrets(dataDir)
	switch source {
	case "pique":
		secret := dev.PiqueSecret
		if len(rc.Pique.Secrets) > 0 {
			secret = rc.Pique.Secrets[0].Reveal()
		}
		if secret == "" {
			return nil, fmt.Errorf("no Pique secret: set HOOKBRIDGE_PIQUE_SECRETS or run 'hookbridge dev' (dev secrets: %v)", devErr)
		}
		return func(msgID string, body []byte) http.Header {
			h, _ := sample.SvixHeaders(secret, msgID, time.Now(), body)
			return h
		}, nil
	case "product-agents":
		pa := rc.ProductAgents
		if pa.Auth != "token" && len(pa.Secrets) == 0 {
			return nil, fmt.Errorf("auth %s needs HOOKBRIDGE_PRODUCT_AGENTS_SECRETS", pa.Auth)
		}
		switch pa.Auth {
		case "hmac":
			return func(_ string, body []byte) http.Header {
				return sample.HMACHeaders(pa.HMACHeader, pa.Secrets[0].Reveal(), body)
			}, nil
		case "svix":
			return func(msgID string, body []byte) http.Header {
				h, _ := sample.SvixHeaders(pa.Secrets[0].Reveal(), msgID, time.Now(), body)
				return h
			}, nil
		}
		token := dev.ProductAgentsToken
		if pa.Token != "" {
			token = pa.Token.Reveal()
		}
		if token == "" {
			return nil, fmt.Errorf("no Product Agents token: set HOOKBRIDGE_PRODUCT_AGENTS_TOKEN or run 'hookbridge dev' (dev secrets: %v)", devErr)
		}
		return func(string, []byte) http.Header { return sample.TokenHeaders(token) }, nil
	}
	return nil, fmt.Errorf("--source %q: use pique or product-agents", source)
}

func postSample(ctx context.Context, url string, h http.Header, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}
