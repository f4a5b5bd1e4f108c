package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/internal/sample"
	"github.com/hookbridge/hookbridge/internal/testkit"
)

// pendingMetrics are metrics the alerts or the dashboard use that a short
// dev run does not export, each with the reason. A metric here that the
// scrape does show is only logged: take it off the list then.
var pendingMetrics = map[string]string{
	"hookbridge_klaviyo_requests_total":       "dev runs Klaviyo in dry-run: no HTTP requests",
	"hookbridge_klaviyo_request_seconds":      "dev runs Klaviyo in dry-run: no HTTP requests",
	"hookbridge_klaviyo_paced_seconds":        "dev runs Klaviyo in dry-run: no HTTP requests",
	"hookbridge_klaviyo_events_skipped_total": "only when an event has no email; every sample has one",
	"hookbridge_dedupe_forgotten_early_total": "only when a partition's seen set passes dedupe.max_ids_per_partition",
	"hookbridge_consumer_errors_total":        "only on fetch, commit or transaction errors",
}

var metricName = regexp.MustCompile(`hookbridge_[a-z0-9_]+`)

// TestMonitoringOnDev runs dev, makes it export what a first day exports
// (webhooks accepted and rejected, a poison record dead-lettered, Parquet
// flushed), scrapes it, and checks that every metric the alerts and the
// dashboard in deploy/monitoring use exists and that every metric exported
// is in the README's tables. With HOOKBRIDGE_TEST_PROMETHEUS naming a
// Prometheus binary (.ci/monitoring.sh sets it) it also runs that
// Prometheus on the alerts against dev and sees two of them fire.
func TestMonitoringOnDev(t *testing.T) {
	prom := os.Getenv("HOOKBRIDGE_TEST_PROMETHEUS")
	devTestEnv(t)
	dir := t.TempDir()
	d := startDev(t, dir)
	d.useDev(t)
	sendSample(t, "--url", d.URL, "--data-dir", dir, "--count", "10", "--duplicates", "0.5")
	sendSample(t, "--url", d.URL, "--data-dir", dir, "--source", "product-agents", "--count", "5")
	sendBadSignatures(t, d.URL, 1)
	producePoison(t, d.Kafka)
	testkit.Eventually(t, 30*time.Second, "a dead letter and a Parquet file to be counted", func() bool {
		fams := scrapeFamilies(t, d.URL)
		return fams["hookbridge_consumer_records_failed_total"] && fams["hookbridge_warehouse_files_written_total"]
	})
	exported := scrapeFamilies(t, d.URL)

	t.Run("alerts and dashboard use only exported metrics", func(t *testing.T) {
		for _, name := range usedMetrics(t) {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
			_, pending := pendingMetrics[base]
			switch {
			case exported[name] || exported[base]:
				if pending {
					t.Logf("%s is exported now: take it off pendingMetrics", base)
				}
			case !pending:
				t.Errorf("%s is used by deploy/monitoring but dev does not export it (and it is not in pendingMetrics)", name)
			}
		}
	})

	t.Run("every exported metric is in the README", func(t *testing.T) {
		readme, err := os.ReadFile("../../README.md")
		if err != nil {
			t.Fatal(err)
		}
		documented := map[string]bool{}
		for _, m := range metricName.FindAllString(string(readme), -1) {
			documented[m] = true
		}
		for name := range exported {
			if strings.HasPrefix(name, "hookbridge_") && !documented[name] {
				t.Errorf("%s is exported but not in the README's metric tables", name)
			}
		}
	})

	if prom == "" {
		t.Log("HOOKBRIDGE_TEST_PROMETHEUS not set: not running the alerts on a real Prometheus (.ci/monitoring.sh does)")
		return
	}
	t.Run("alerts fire on a real Prometheus", func(t *testing.T) {
		api := startPrometheus(t, prom, d.URL)
		testkit.Eventually(t, 30*time.Second, "Prometheus to scrape the rejections", func() bool {
			return promHasSeries(t, api, `hookbridge_receiver_rejections_total{reason="unauthorized"}`)
		})
		sendBadSignatures(t, d.URL, 100)
		want := []string{"HookbridgeDeadLetters", "HookbridgeRejectionSpike"}
		testkit.Eventually(t, 60*time.Second, fmt.Sprintf("alerts %v to fire", want), func() bool {
			firing := firingAlerts(t, api)
			return slices.Contains(firing, want[0]) && slices.Contains(firing, want[1])
		})
		if firing := firingAlerts(t, api); slices.Contains(firing, "HookbridgeGroupHasNoMembers") {
			t.Errorf("HookbridgeGroupHasNoMembers fires while every group runs: %v", firing)
		}
	})
}

// sendBadSignatures posts n Pique webhooks signed with a secret the
// receiver does not have.
func sendBadSignatures(t *testing.T, url string, n int) {
	t.Helper()
	t.Setenv("HOOKBRIDGE_PIQUE_SECRETS", sample.NewSvixSecret())
	out, _, err := runCmd(t, 30*time.Second, cmdSendSample, "--url", url, "--count", fmt.Sprint(n))
	os.Unsetenv("HOOKBRIDGE_PIQUE_SECRETS")
	if err == nil || !strings.Contains(out, "first 401") {
		t.Fatalf("send-sample with a wrong secret: %v\n%s", err, out)
	}
}

// producePoison writes a record no consumer can decode to the raw Pique
// topic, as a broken producer would.
func producePoison(t *testing.T, brokers string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rec := &kgo.Record{Topic: "pique.decisions.v1", Key: []byte("poison"), Value: []byte("not an Avro record"),
		Headers: []kgo.RecordHeader{{Key: "event-id", Value: []byte("poison-1")}}}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

var typeLine = regexp.MustCompile(`(?m)^# TYPE (\S+) `)

// scrapeFamilies returns the metric families dev's /metrics shows.
func scrapeFamilies(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	fams := map[string]bool{}
	for _, m := range typeLine.FindAllStringSubmatch(string(body), -1) {
		fams[m[1]] = true
	}
	return fams
}

// usedMetrics returns every hookbridge metric the alerting rules and the
// dashboard's queries name.
func usedMetrics(t *testing.T) []string {
	t.Helper()
	var exprs []string
	rules, err := os.ReadFile("../../deploy/monitoring/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	exprs = append(exprs, string(rules))
	raw, err := os.ReadFile("../../deploy/monitoring/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	for _, p := range dash.Panels {
		for _, q := range p.Targets {
			exprs = append(exprs, q.Expr)
		}
	}
	names := metricName.FindAllString(strings.Join(exprs, "\n"), -1)
	slices.Sort(names)
	return slices.Compact(names)
}

// startPrometheus runs Prometheus on the alerting rules (their `for:`
// shortened to 0s, so a test need not wait minutes) scraping dev every
// second, and returns its API base URL.
func startPrometheus(t *testing.T, bin, devURL string) string {
	t.Helper()
	dir := t.TempDir()
	rules, err := os.ReadFile("../../deploy/monitoring/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rules = regexp.MustCompile(`(?m)^(\s+)for: \S+$`).ReplaceAll(rules, []byte("${1}for: 0s"))
	if err := os.WriteFile(filepath.Join(dir, "alerts.yaml"), rules, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("global: {scrape_interval: 1s, evaluation_interval: 1s}\nrule_files: [%s]\nscrape_configs:\n  - job_name: hookbridge-dev\n    static_configs: [{targets: [%q]}]\n",
		filepath.Join(dir, "alerts.yaml"), strings.TrimPrefix(devURL, "http://"))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeLoopbackAddr(t)
	logs := testkit.NewLogBuffer(t)
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	api := "http://" + addr
	testkit.Eventually(t, 30*time.Second, "Prometheus to be ready", func() bool {
		resp, err := http.Get(api + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return api
}

// freeLoopbackAddr returns a loopback address with a port free a moment
// ago, for a program that cannot report the port it picked for :0.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func promHasSeries(t *testing.T, api, query string) bool {
	t.Helper()
	var r struct {
		Data struct{ Result []json.RawMessage }
	}
	promGet(t, api+"/api/v1/query?query="+neturl.QueryEscape(query), &r)
	return len(r.Data.Result) > 0
}

func firingAlerts(t *testing.T, api string) []string {
	t.Helper()
	var r struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string
				State  string
			}
		}
	}
	promGet(t, api+"/api/v1/alerts", &r)
	var firing []string
	for _, a := range r.Data.Alerts {
		if a.State == "firing" {
			firing = append(firing, a.Labels["alertname"])
		}
	}
	return firing
}

func promGet(t *testing.T, url string, into any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}
