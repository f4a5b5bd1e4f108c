package producer

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
	"github.com/valyala/fasthttp"

	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/loadtest"
	"github.com/hookbridge/hookbridge/internal/sample"
	"github.com/hookbridge/hookbridge/schemas"
)

// Micro-benchmarks of the receiver's per-webhook work, on the 600-byte
// bodies `hookbridge bench` sends:
//
//	go test -run '^$' -bench . -benchmem ./producer/

func benchBody(source string) []byte {
	body, _ := loadtest.Body(sample.NewGenerator(1), source, time.Now(), 600)
	return body
}

type headerMap http.Header

func (h headerMap) Get(name string) string { return http.Header(h).Get(name) }

func BenchmarkVerifySvix(b *testing.B) {
	secret := sample.NewSvixSecret()
	v, err := newSvixVerifier([]config.Secret{config.Secret(secret)})
	if err != nil {
		b.Fatal(err)
	}
	body := benchBody("pique")
	h, _ := sample.SvixHeaders(secret, "msg_1", time.Now(), body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(body, headerMap(h)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyToken(b *testing.B) {
	v, _ := newTokenVerifier("Authorization", "s3cret-token")
	h := headerMap(sample.TokenHeaders("s3cret-token"))
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(nil, h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMapPique(b *testing.B) {
	d := &delivery{Source: "pique", ReceivedAt: time.Now(), SvixID: "msg_1", Body: benchBody("pique")}
	b.SetBytes(int64(len(d.Body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mapPique(d, config.Topics{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMapProductAgents(b *testing.B) {
	d := &delivery{Source: "product-agents", ReceivedAt: time.Now(), Body: benchBody("product-agents")}
	b.SetBytes(int64(len(d.Body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mapProductAgents(d, config.Topics{}); err != nil {
			b.Fatal(err)
		}
	}
}

// benchRegistry is a schema registry with hookbridge's schemas
// registered, on an srfake registry.
func benchRegistry(b *testing.B) *schemas.Registry {
	fake := srfake.New()
	b.Cleanup(fake.Close)
	cl, err := sr.NewClient(sr.URLs(fake.URL()))
	if err != nil {
		b.Fatal(err)
	}
	reg := schemas.NewRegistry(cl)
	if err := reg.Register(context.Background(), schemas.Subjects("")); err != nil {
		b.Fatal(err)
	}
	return reg
}

// benchEncode measures schemas.Registry.AppendEncode, as the receiver
// calls it: Confluent header plus Avro, natives from the pool.
func benchEncode(b *testing.B, m mapped) {
	reg := benchRegistry(b)
	b.ReportAllocs()
	buf := make([]byte, 0, 4096)
	for b.Loop() {
		if _, err := reg.AppendEncode(buf[:0], m.event); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeDecisionMade(b *testing.B) {
	m, _ := mapPique(&delivery{ReceivedAt: time.Now(), SvixID: "msg_1", Body: benchBody("pique")}, config.Topics{})
	benchEncode(b, m)
}

func BenchmarkEncodeAgentMessage(b *testing.B) {
	m, _ := mapProductAgents(&delivery{ReceivedAt: time.Now(), Body: benchBody("product-agents")}, config.Topics{})
	benchEncode(b, m)
}

// BenchmarkRecords measures building a webhook's records as fitRecords
// does: key, headers and the encoded value.
func BenchmarkRecords(b *testing.B) {
	reg := benchRegistry(b)
	for _, source := range []string{"pique", "product-agents"} {
		d := &delivery{Source: source, ReceivedAt: time.Now(), SvixID: "msg_1", Body: benchBody(source)}
		m, err := mapPique(d, config.Topics{})
		if source != "pique" {
			d.SvixID = ""
			m, err = mapProductAgents(d, config.Topics{})
		}
		if err != nil {
			b.Fatal(err)
		}
		b.Run(source, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := records(reg, d, []mapped{m}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// asyncPublisher acknowledges every record from another goroutine, as
// franz-go's producer does.
type asyncPublisher struct{ acks chan func(error) }

func (p asyncPublisher) Publish(_ *kgo.Record, done func(error)) { p.acks <- done }

// BenchmarkPublishAndWait measures a webhook's wait for its ack, answered
// from another goroutine: the hand-off both ways and the deadline.
func BenchmarkPublishAndWait(b *testing.B) {
	p := asyncPublisher{acks: make(chan func(error), 64)}
	go func() {
		for done := range p.acks {
			done(nil)
		}
	}()
	defer close(p.acks)
	recs := []*kgo.Record{{Topic: "t"}}
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if err := publishAll(p, recs).within(time.Second); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckJSON(b *testing.B) {
	body := benchBody("product-agents")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := checkJSON(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckBody is what every body costs before it is read: the
// UTF-8 and JSON checks.
func BenchmarkCheckBody(b *testing.B) {
	for _, source := range []string{"pique", "product-agents"} {
		b.Run(source, func(b *testing.B) {
			body := benchBody(source)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := checkBody(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchHandle measures the receiver's own work per webhook, as Fiber runs
// it: route, verify, map, encode, hand to the publisher (which acks at
// once, so neither Kafka nor sockets are measured) and write the answer.
func benchHandle(b *testing.B, source string) {
	reg := benchRegistry(b)
	cfg, err := config.Default(nil)
	if err != nil {
		b.Fatal(err)
	}
	secret, token := sample.NewSvixSecret(), sample.NewToken()
	cfg.Receiver.Pique.Secrets = []config.Secret{config.Secret(secret)}
	cfg.Receiver.ProductAgents.Token = config.Secret(token)
	body := benchBody(source)
	h := sample.TokenHeaders(token)
	if source == "pique" {
		h, _ = sample.SvixHeaders(secret, "msg_1", time.Now(), body)
	}
	h.Set("Content-Type", "application/json")
	srv, err := New(Options{Receiver: cfg.Receiver, Topics: cfg.Topics, Schemas: reg, Publisher: &countingPublisher{}})
	if err != nil {
		b.Fatal(err)
	}
	handle := srv.App().Handler()
	var ctx fasthttp.RequestCtx
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.Header.SetMethod(fasthttp.MethodPost)
		ctx.Request.SetRequestURI("/webhooks/" + source)
		for k, vs := range h {
			ctx.Request.Header.Set(k, vs[0])
		}
		ctx.Request.SetBody(body)
		handle(&ctx)
		if ctx.Response.StatusCode() != fasthttp.StatusOK {
			b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
}

// reportCPU reports the process's CPU time (user and system, GC included)
// per op when the returned func runs: unlike ns/op, it does not grow when
// other processes take the cores.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() { b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op") }
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkHandlePique(b *testing.B)         { benchHandle(b, "pique") }
func BenchmarkHandleProductAgents(b *testing.B) { benchHandle(b, "product-agents") }

// BenchmarkBatchCodec compresses batches of n DecisionMade values as
// franz-go's lz4 and snappy codecs do, reporting the compressed size as a
// fraction of the batch: the receiver's batches hold a few records each.
func BenchmarkBatchCodec(b *testing.B) {
	reg := benchRegistry(b)
	g := sample.NewGenerator(1)
	var batch [][]byte
	for range 16 {
		body, _ := loadtest.Body(g, "pique", time.Now(), 600)
		m, err := mapPique(&delivery{ReceivedAt: time.Now(), SvixID: "msg_1", Body: body}, config.Topics{})
		if err != nil {
			b.Fatal(err)
		}
		v, err := reg.AppendEncode(nil, m.event)
		if err != nil {
			b.Fatal(err)
		}
		batch = append(batch, v)
	}
	for _, n := range []int{1, 4, 16} {
		in := bytes.Join(batch[:n], nil)
		b.Run(fmt.Sprintf("lz4/%d", n), func(b *testing.B) {
			var out bytes.Buffer
			w := lz4.NewWriter(&out)
			for b.Loop() {
				out.Reset()
				w.Reset(&out)
				_, _ = w.Write(in)
				_ = w.Close()
			}
			b.ReportMetric(float64(out.Len())/float64(len(in)), "ratio")
		})
		b.Run(fmt.Sprintf("snappy/%d", n), func(b *testing.B) {
			dst := make([]byte, s2.MaxEncodedLen(len(in)))
			var out []byte
			for b.Loop() {
				out = s2.EncodeSnappy(dst, in)
			}
			b.ReportMetric(float64(len(out))/float64(len(in)), "ratio")
		})
	}
}
