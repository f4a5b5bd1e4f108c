package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	neturl "net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/devstack"
	"github.com/hookbridge/hookbridge/internal/sample"
)

func cmdSendSample(ctx context.Context, args []string, std stdio) error {
	fs := newFlags("send-sample --source pique|product-agents|klaviyo-flow|klaviyo-system [flags]", `
Posts realistic signed sample webhooks, shaped like the senders' documented
examples and varied. Secrets come from HOOKBRIDGE_PIQUE_SECRETS (the first one
signs), HOOKBRIDGE_PRODUCT_AGENTS_TOKEN, HOOKBRIDGE_KLAVIYO_FLOW_TOKEN and
HOOKBRIDGE_KLAVIYO_SYSTEM_SECRETS, else from the dev secrets that
'hookbridge dev' keeps in --data-dir. klaviyo-system sends batches of --batch
events of varied topics (received, opened, clicked email, unsubscribed, SMS sent). --duplicates F re-sends a fraction F of
the webhooks (same body and, for Pique, the same svix-id, as a Svix retry would).`, std)
	source := fs.String("source", "pique", "pique, product-agents, klaviyo-flow or klaviyo-system")
	batch := fs.Int("batch", 10, "klaviyo-system: events per webhook (Klaviyo sends up to 1,000)")
	url := fs.String("url", "http://127.0.0.1:8080", "receiver base URL (send-sample adds /webhooks/<source>)")
	count := fs.Int("count", 10, "webhooks to send (duplicates not counted)")
	dups := fs.Float64("duplicates", 0, "fraction of webhooks to send twice, 0 to 1")
	dataDir := fs.String("data-dir", ".hookbridge", "where 'hookbridge dev' keeps its dev secrets")
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "random seed, for repeatable samples")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dups < 0 || *dups > 1 || *count < 1 || *batch < 1 {
		return errors.New("--count and --batch must be at least 1 and --duplicates between 0 and 1")
	}
	sign, err := sampleSigner(*source, *dataDir)
	if err != nil {
		return err
	}
	base, err := receiverURL(*url, std.err)
	if err != nil {
		return err
	}
	g := sample.NewGenerator(*seed)
	rng := rand.New(rand.NewPCG(*seed, 1))
	endpoint := base + "/webhooks/" + strings.Replace(*source, "klaviyo-", "klaviyo/", 1)
	var sent, accepted, dupSent int
	statuses := map[int]int{}
	firstBody := map[int]string{} // the first answer of each failing status, to say why
	for i := 0; i < *count; i++ {
		body, id := sampleBody(g, *source, *batch)
		msgID := "msg_" + id
		times := 1
		if rng.Float64() < *dups {
			times, dupSent = 2, dupSent+1
		}
		for range times {
			code, answer, err := postSample(ctx, endpoint, sign(msgID, body), body)
			if err != nil {
				return fmt.Errorf("after %d sent: %w", sent, err)
			}
			sent++
			statuses[code]++
			if code >= 200 && code < 300 {
				accepted++
			} else if _, ok := firstBody[code]; !ok {
				firstBody[code] = answer
			}
		}
	}
	fmt.Fprintf(std.out, "sent %d %s webhooks (%d unique, %d duplicates) to %s: %d accepted; statuses %v\n",
		sent, *source, *count, dupSent, endpoint, accepted, statuses)
	for _, code := range slices.Sorted(maps.Keys(firstBody)) {
		fmt.Fprintf(std.out, "  first %d %s: %s\n", code, http.StatusText(code), firstBody[code])
	}
	if accepted != sent {
		return fmt.Errorf("%d of %d webhooks were not accepted", sent-accepted, sent)
	}
	return nil
}

// sampleWebhookID is the Klaviyo-Webhook-Id of sample system webhooks.
const sampleWebhookID = "01HSAMPLEWEBHOOK"

func sampleBody(g *sample.Generator, source string, batch int) ([]byte, string) {
	switch source {
	case "pique":
		return g.Pique(time.Now())
	case "klaviyo-flow":
		return g.KlaviyoFlow(time.Now())
	case "klaviyo-system":
		body, items := g.KlaviyoSystem(time.Now(), sampleWebhookID, batch)
		return body, items[0].ExternalID
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
		return func(string, []byte) http.Header { return sample.TokenInHeader(pa.TokenHeader, token) }, nil
	case "klaviyo-flow":
		token := dev.KlaviyoFlowToken
		if f := rc.Klaviyo.Flow; len(f.Tokens) > 0 {
			token = f.Tokens[0].Reveal()
		}
		if token == "" {
			return nil, fmt.Errorf("no Klaviyo flow token: set HOOKBRIDGE_KLAVIYO_FLOW_TOKEN or run 'hookbridge dev' (dev secrets: %v)", devErr)
		}
		return func(string, []byte) http.Header { return sample.TokenInHeader(rc.Klaviyo.Flow.Header, token) }, nil
	case "klaviyo-system":
		secret := dev.KlaviyoSystemSecret
		if s := rc.Klaviyo.System.Secrets; len(s) > 0 {
			secret = s[0].Reveal()
		}
		if secret == "" {
			return nil, fmt.Errorf("no Klaviyo system secret: set HOOKBRIDGE_KLAVIYO_SYSTEM_SECRETS or run 'hookbridge dev' (dev secrets: %v)", devErr)
		}
		return func(_ string, body []byte) http.Header {
			return sample.KlaviyoSystemHeaders(secret, sampleWebhookID, time.Now(), body)
		}, nil
	}
	return nil, fmt.Errorf("--source %q: use pique, product-agents, klaviyo-flow or klaviyo-system", source)
}

// postSample posts one webhook and returns the status and, for a failure,
// the start of the answer (the receiver's {"error": ...}).
func postSample(ctx context.Context, url string, h http.Header, body []byte) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var answer []byte
	if resp.StatusCode >= 300 {
		answer, _ = io.ReadAll(io.LimitReader(resp.Body, 512))
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(answer)), nil
}

// receiverURL turns what a person passes as --url into the receiver's base
// URL: it adds http:// to a bare host:port and drops a /webhooks/... route
// (the commands add the route themselves), saying so on w.
func receiverURL(raw string, w io.Writer) (string, error) {
	fixed := strings.TrimSpace(raw)
	if !strings.Contains(fixed, "://") {
		fixed = "http://" + fixed
	}
	u, err := neturl.Parse(fixed)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("--url %q: want the receiver's address, such as http://127.0.0.1:8080", raw)
	}
	if i := strings.Index(u.Path+"/", "/webhooks/"); i >= 0 {
		u.Path = u.Path[:i]
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	if fixed = u.String(); fixed != strings.TrimRight(raw, "/") {
		fmt.Fprintf(w, "using --url %s (the receiver's base URL; the /webhooks/<source> route is added)\n", fixed)
	}
	return fixed, nil
}
