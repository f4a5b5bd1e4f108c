package klaviyo

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/consumers"
	"github.com/hookbridge/hookbridge/consumers/klaviyo/klaviyofake"
	"github.com/hookbridge/hookbridge/schemas"
)

// synthDecoder makes a decision for any value, its id being the value, so
// a benchmark feeds millions of records without holding them.
type synthDecoder struct{}

func (synthDecoder) DecodeEvent(_ context.Context, value []byte) (schemas.Event, error) {
	id := string(value)
	return decision(id, "user"+id[len(id)-3:]+"@example.com", "cart_abandonment"), nil
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkForwarderThroughput runs the processors of several partitions
// against the fake with Klaviyo's bulk limits (10/s, 150/min) scaled in
// time by KLAVIYO_BENCH_SCALE (default 4: 10 per 250ms, 150 per 15s), for
// KLAVIYO_BENCH_WINDOWS steady windows (default 3), and reports the events
// per second Klaviyo accepted after the first window as a fraction of the
// ceiling (steady rate × 1,000 events per request), and the share of
// requests answered 429.
//
//	go test -run '^$' -bench ForwarderThroughput -benchtime 1x ./consumers/klaviyo/
func BenchmarkForwarderThroughput(b *testing.B) {
	scale := envInt("KLAVIYO_BENCH_SCALE", 4)
	windows := envInt("KLAVIYO_BENCH_WINDOWS", 3)
	partitions := envInt("KLAVIYO_BENCH_PARTITIONS", 3)
	bulk := Limit{Burst: 10, BurstWindow: time.Second / time.Duration(scale), Steady: 150, SteadyWindow: time.Minute / time.Duration(scale)}
	ceiling := bulk.Ceiling() * MaxBulkEvents
	for i := 0; i < b.N; i++ {
		fake := klaviyofake.New(klaviyofake.Options{APIKey: testKey, Bulk: klaviyofake.Limit(bulk),
			Single: klaviyofake.Limit(SingleEndpointLimit()), CountOnly: true, FractionalRetryAfter: true})
		client, err := NewClient(ClientOptions{BaseURL: fake.URL(), APIKey: testKey, Bulk: bulk, Single: SingleEndpointLimit()})
		if err != nil {
			b.Fatal(err)
		}
		opts := Options{Client: client, Decoder: synthDecoder{}, Mapper: NewMapper(MappingOptions{})}
		ctx, cancel := context.WithCancel(context.Background())
		run := time.Duration(windows) * bulk.SteadyWindow
		var wg sync.WaitGroup
		for p := 0; p < partitions; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				proc := NewProcessor(opts, consumers.PartitionContext{Partition: int32(p)})
				var off int64
				for ctx.Err() == nil {
					recs := make([]*kgo.Record, 500)
					for j := range recs {
						recs[j] = &kgo.Record{Offset: off, Value: []byte(fmt.Sprintf("p%d-%09d", p, off))}
						off++
					}
					if err := proc.Process(ctx, recs); err != nil && ctx.Err() == nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		b.ResetTimer()
		time.Sleep(bulk.SteadyWindow) // warm-up: the first window may use the bucket's burst
		n0, t0 := fake.Stored(), time.Now()
		time.Sleep(run - bulk.SteadyWindow)
		n1, t1 := fake.Stored(), time.Now()
		cancel()
		wg.Wait()
		fake.Close()
		b.StopTimer()

		rate := float64(n1-n0) / t1.Sub(t0).Seconds()
		s := fake.Stats()
		total := s.Total(klaviyofake.PathBulkEvents)
		b.ReportMetric(rate, "events/s")
		b.ReportMetric(ceiling, "ceiling-events/s")
		b.ReportMetric(rate/ceiling, "fraction-of-ceiling")
		b.ReportMetric(float64(s.Requests[klaviyofake.PathBulkEvents][429])/float64(max(total, 1)), "429-share")
		b.ReportMetric(float64(total), "bulk-requests")
	}
}
