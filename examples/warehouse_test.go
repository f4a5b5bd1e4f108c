//go:build datakit

package examples

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/hookbridge/hookbridge/schemas"
)

// warehouseWebhooks span a day boundary and several hours in UTC (and in no
// other time zone the same way), with a null action, non-ASCII titles, a
// null price and a message without products. The decisions share a visitor
// and two messages a customer, so one partition's flush writes several
// files per schema, the later ones by a reused Parquet writer.
var warehouseWebhooks = []webhook{
	{"pique", "dec-wh-1", `{"type":"decision.made","timestamp":"2026-04-30T23:30:00.000Z","decision":{"id":"dec-wh-1","action":"cart_abandonment"},"session":{"visitorId":"v-wh"}}`},
	{"pique", "dec-wh-2", `{"type":"decision.made","timestamp":"2026-05-01T00:10:00.123Z","decision":{"id":"dec-wh-2","action":"cart_abandonment"},"session":{"visitorId":"v-wh"}}`},
	{"pique", "dec-wh-3", `{"type":"decision.made","timestamp":"2026-05-01T00:59:59.999Z","decision":{"id":"dec-wh-3","action":"browse_abandonment"},"session":{"visitorId":"v-wh"}}`},
	{"pique", "dec-wh-4", `{"type":"decision.made","timestamp":"2026-05-01T00:20:00.000Z","decision":{"id":"dec-wh-4","action":"cart_abandonment"},"session":{"visitorId":"v-wh"}}`},
	{"pique", "dec-wh-5", `{"type":"decision.made","timestamp":"2026-05-01T14:00:00.000Z","decision":{"id":"dec-wh-5"},"session":{"visitorId":"v-wh"}}`},
	{"product-agents", "evt-wh-1", `{"event":{"id":"evt-wh-1","timestamp":"2026-05-01T09:00:00Z"},"customer":{"id":"c1","email":"zoë@example.com"},
		"primaryProducts":[{"title":"Ørsted <em>lamp</em>","price":19.99,"currency":"EUR"},{"title":"Plain","price":null}]}`},
	{"product-agents", "evt-wh-2", `{"event":{"id":"evt-wh-2","timestamp":"2026-05-01T09:00:00Z"},"primaryProducts":[]}`},
	{"product-agents", "evt-wh-3", `{"event":{"id":"evt-wh-3","timestamp":"2026-05-02T09:00:00Z"},"customer":{"id":"c1"},"primaryProducts":[{"title":"日本製","price":1200,"currency":"JPY"}]}`},
}

// warehouseWant is what the README's queries must return for them.
var warehouseWant = map[string][][]any{
	"by_hour": {
		{"2026-04-30", 23.0, "cart_abandonment", 1.0},
		{"2026-05-01", 0.0, "browse_abandonment", 1.0},
		{"2026-05-01", 0.0, "cart_abandonment", 2.0},
		{"2026-05-01", 14.0, nil, 1.0},
	},
	"products": {
		{"evt-wh-1", "zoë@example.com", "Plain", nil, nil},
		{"evt-wh-1", "zoë@example.com", "Ørsted <em>lamp</em>", 19.99, "EUR"},
		{"evt-wh-3", nil, "日本製", 1200.0, "JPY"},
	},
	"times": {
		{"dec-wh-1", "2026-04-30T23:30:00.000Z"},
		{"dec-wh-2", "2026-05-01T00:10:00.123Z"},
		{"dec-wh-3", "2026-05-01T00:59:59.999Z"},
		{"dec-wh-4", "2026-05-01T00:20:00.000Z"},
		{"dec-wh-5", "2026-05-01T14:00:00.000Z"},
	},
}

// TestWarehouseQueries runs the README's queries with DuckDB and Spark over
// dev's warehouse output, in a process time zone east of UTC, and compares
// them with what was posted.
func TestWarehouseQueries(t *testing.T) {
	py := warehousePython(t)
	d := startDev(t)
	for _, w := range warehouseWebhooks {
		d.post(t, w.source, "msg_"+w.eventID, []byte(w.body))
	}
	d.waitWarehouse(t, recordsPerTopic(warehouseWebhooks))
	checkSeveralFilesPerPartition(t, d.Warehouse)
	env := append(cleanEnv(), "TZ=Asia/Kolkata")
	for _, engine := range []string{"duckdb", "spark"} {
		t.Run(engine, func(t *testing.T) {
			checkQueries(t, py, env, engine, d.Warehouse, warehouseWant)
		})
	}
}

// TestWarehouseQueriesAcrossSchemaVersions runs the README's queries, and
// queries for every column the way the README reads the files, over a
// topic whose files hold three versions of its schema: as it is, with an
// optional field added and with one removed (changes `schemas check`
// allows). Every engine reads every row, with the union of the columns.
func TestWarehouseQueriesAcrossSchemaVersions(t *testing.T) {
	py := warehousePython(t)
	d := startDev(t)
	for _, w := range warehouseWebhooks {
		d.post(t, w.source, "msg_"+w.eventID, []byte(w.body))
	}
	at := time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC) // the hour of evt-wh-1 and -2
	added := &schemas.AgentMessage{EventID: "evt-wh-4", MessageType: new("abandoned_cart"), OccurredAt: &at, ReceivedAt: at, RawJSON: "{}",
		Customer:        schemas.Customer{ID: new("c4"), Email: new("new@example.com")},
		PrimaryProducts: []schemas.Product{{Title: new("Added"), Price: new(5.0), Currency: new("EUR")}}}
	native := added.Native()
	native["channel"] = goavro.Union("string", "sms")
	writeWithSchema(t, d, evolvedAgentMessage, added, native, "c4")
	removed := &schemas.AgentMessage{EventID: "evt-wh-5", OccurredAt: new(at.Add(10 * time.Minute)), ReceivedAt: at, RawJSON: "{}",
		PrimaryProducts: []schemas.Product{{Title: new("Removed"), Price: new(7.0), Currency: new("USD")}}}
	native = removed.Native()
	delete(native, "message_type")
	writeWithSchema(t, d, withoutField(t, schemas.KindAgentMessage.Source(), "message_type"), removed, native, "c5")
	n := recordsPerTopic(warehouseWebhooks)
	n[messagesDeduped] += 2
	d.waitWarehouse(t, n)

	want := map[string][][]any{
		"by_hour": warehouseWant["by_hour"],
		"times":   warehouseWant["times"],
		"products": append(append([][]any(nil), warehouseWant["products"]...),
			[]any{"evt-wh-4", "new@example.com", "Added", 5.0, "EUR"},
			[]any{"evt-wh-5", nil, "Removed", 7.0, "USD"}),
	}
	env := append(cleanEnv(), "TZ=Asia/Kolkata")
	for _, engine := range []string{"duckdb", "spark"} {
		t.Run(engine, func(t *testing.T) {
			checkQueries(t, py, env, engine, d.Warehouse, want)

			from := messagesFrom(t, engine)
			all := query(t, py, env, engine, d.Warehouse, "SELECT * FROM "+from)
			for _, c := range []string{"event_id", "message_type", "channel", "primary_products", "dt", "hr"} {
				if !slices.Contains(all.Columns, c) {
					t.Errorf("%s: SELECT * has no column %s: %v", engine, c, all.Columns)
				}
			}
			if len(all.Rows) != 5 {
				t.Errorf("%s: SELECT * returned %d rows, want 5", engine, len(all.Rows))
			}
			cols := query(t, py, env, engine, d.Warehouse, "SELECT event_id, message_type, channel FROM "+from+" WHERE event_id IN ('evt-wh-4', 'evt-wh-5') ORDER BY event_id")
			wantCols := [][]any{{"evt-wh-4", "abandoned_cart", "sms"}, {"evt-wh-5", nil, nil}}
			if !reflect.DeepEqual(cols.Rows, wantCols) {
				t.Errorf("%s: the added and the removed field:\n got %v\nwant %v", engine, cols.Rows, wantCols)
			}
		})
	}
}

// withoutField is schema without its top-level field name.
func withoutField(t *testing.T, schema, name string) string {
	t.Helper()
	var s map[string]any
	if err := json.Unmarshal([]byte(schema), &s); err != nil {
		t.Fatal(err)
	}
	fields := s["fields"].([]any)
	s["fields"] = slices.DeleteFunc(fields, func(f any) bool { return f.(map[string]any)["name"] == name })
	out, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// messagesFrom is how the README's products query reads the messages'
// files with engine: the FROM clause of examples/warehouse/<engine>/products.sql.
func messagesFrom(t *testing.T, engine string) string {
	t.Helper()
	q, err := os.ReadFile(filepath.Join("warehouse", engine, "products.sql"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`read_parquet\('\{root\}/` + regexp.QuoteMeta(messagesDeduped) + `[^)]*\)|parquet\.` + "`" + `\{root\}/` + regexp.QuoteMeta(messagesDeduped) + "`")
	from := re.FindString(string(q))
	if from == "" {
		t.Fatalf("%s/products.sql reads %s in a way this test does not know", engine, messagesDeduped)
	}
	return from
}

// queried is what queries.py --sql prints.
type queried struct {
	Columns []string `json:"columns"`
	Rows    [][]any  `json:"rows"`
}

// query runs sql with engine over the warehouse through queries.py.
func query(t *testing.T, py string, env []string, engine, warehouse, sql string) queried {
	t.Helper()
	var q queried
	queriesPy(t, py, env, &q, "--engine", engine, "--warehouse", warehouse, "--sql", sql)
	return q
}

// warehousePython is the Python of examples/warehouse's virtual
// environment, with DuckDB and PySpark.
func warehousePython(t *testing.T) string {
	t.Helper()
	py, _ := filepath.Abs(filepath.Join("warehouse", ".venv", "bin", "python"))
	return need(t, py, "python3 -m venv examples/warehouse/.venv && examples/warehouse/.venv/bin/pip install -r examples/warehouse/requirements.txt")
}

// checkQueries runs the README's queries with engine over the warehouse
// and compares their rows with want's, in any order.
func checkQueries(t *testing.T, py string, env []string, engine, warehouse string, want map[string][][]any) {
	t.Helper()
	var got map[string][][]any
	queriesPy(t, py, env, &got, "--engine", engine, "--warehouse", warehouse)
	for name, want := range want {
		if rows := sorted(got[name]); !reflect.DeepEqual(rows, sorted(want)) {
			t.Errorf("%s %s:\n got %v\nwant %v", engine, name, rows, sorted(want))
		}
	}
}

// queriesPy runs examples/warehouse/queries.py with args and decodes the
// JSON it prints into out.
func queriesPy(t *testing.T, py string, env []string, out any, args ...string) {
	t.Helper()
	printed := run(t, 4*time.Minute, "warehouse", env, py, append([]string{"queries.py"}, args...)...)
	if err := json.Unmarshal(printed, out); err != nil {
		t.Fatalf("queries.py %v printed what is not JSON: %v\n%s", args, err, printed)
	}
}

// checkSeveralFilesPerPartition makes sure the engines read files written
// after the first by one partition's writer (hours apart, so files apart):
// parquet-go's writer is reused from file to file, and a reused writer once
// wrote files Spark refused.
func checkSeveralFilesPerPartition(t *testing.T, warehouse string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(warehouse, "*", "*", "*", "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	perPartition := map[string]int{}
	for _, f := range files {
		name := filepath.Base(f)
		perPartition[name[:strings.LastIndex(name, "+")]]++ // <topic>+<partition>
	}
	for _, topic := range []string{"pique.decisions.v1.deduped", "productagents.messages.v1.deduped"} {
		most := 0
		for tp, n := range perPartition {
			if strings.HasPrefix(tp, topic+"+") {
				most = max(most, n)
			}
		}
		if most < 2 {
			t.Errorf("no partition of %s has more than one file (%v): the engines would not read a reused writer's files", topic, perPartition)
		}
	}
}

// recordsPerTopic counts the records hooks make in each deduped topic.
func recordsPerTopic(hooks []webhook) map[string]int {
	n := map[string]int{}
	for _, w := range hooks {
		n[topicOf(w.source)]++
	}
	return n
}

// waitWarehouse waits until the deduped topics hold n records each and the
// warehouse group has committed them all: it commits only once the files
// are durable.
func (d *dev) waitWarehouse(t *testing.T, n map[string]int) {
	t.Helper()
	for topic, count := range n {
		d.tail(t, topic, count)
	}
	env := append(cleanEnv(), "HOOKBRIDGE_KAFKA_BROKERS="+d.Kafka)
	deadline := time.Now().Add(60 * time.Second)
	for {
		var gs []struct {
			TotalLag   int64 `json:"total_lag"`
			Partitions []struct {
				Committed, Stable int64
			} `json:"partitions"`
		}
		out := run(t, 30*time.Second, d.Dir, env, d.bin, "groups", "--group", "hookbridge-warehouse", "--json")
		if err := json.Unmarshal(out, &gs); err != nil {
			t.Fatalf("groups --json: %v\n%s", err, out)
		}
		done := len(gs) == 1 && gs[0].TotalLag == 0
		for _, p := range gs[0].Partitions {
			done = done && (p.Stable == 0 || p.Committed > 0)
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			files, _ := filepath.Glob(filepath.Join(d.Warehouse, "*", "*", "*", "*.parquet"))
			t.Fatalf("the warehouse group did not commit everything within 60s: %s\nfiles: %v", out, files)
		}
		time.Sleep(500 * time.Millisecond) // polling interval
	}
}

func sorted(rows [][]any) [][]any {
	out := append([][]any(nil), rows...)
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}

// TestREADMEShowsTheTestedQueries keeps the README's query examples the
// ones this tier runs.
func TestREADMEShowsTheTestedQueries(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join("warehouse", "*", "*.sql"))
	if len(files) == 0 {
		t.Fatal("no queries under examples/warehouse")
	}
	for _, f := range files {
		q, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		shown := strings.ReplaceAll(string(q), "{root}", ".hookbridge/warehouse")
		if !strings.Contains(string(readme), shown) {
			t.Errorf("README.md does not show %s as tested (with {root} = .hookbridge/warehouse):\n%s", f, shown)
		}
	}
}
