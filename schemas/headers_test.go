package schemas_test

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/schemas"
)

// referenceHeaders builds a record's headers the plain way (a conversion
// per value, time.Time.AppendFormat), as the record contract states them.
func referenceHeaders(m schemas.Meta) []kgo.RecordHeader {
	hs := []kgo.RecordHeader{
		{Key: schemas.HeaderEventID, Value: []byte(m.EventID)},
		{Key: schemas.HeaderSource, Value: []byte(m.Source)},
		{Key: schemas.HeaderEventType, Value: []byte(m.EventType)},
		{Key: schemas.HeaderReceivedAt, Value: m.ReceivedAt.UTC().AppendFormat(nil, schemas.ReceivedAtLayout)},
	}
	if m.SvixID != "" {
		hs = append(hs, kgo.RecordHeader{Key: schemas.HeaderSvixID, Value: []byte(m.SvixID)})
	}
	return hs
}

// Header values share one buffer and received-at is formatted by hand;
// both must give exactly the headers the contract describes (an empty
// value stays empty, not null), over times of every shape, and appending
// to one value must not overwrite the next.
func TestHeadersMatchTheContract(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	times := []time.Time{
		{}, time.UnixMilli(0), time.UnixMilli(-1), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 2, 28, 23, 59, 59, 1e6-1, time.FixedZone("x", -7*3600)),
	}
	for range 2000 {
		times = append(times, time.Unix(rng.Int64N(1<<37)-1<<36, rng.Int64N(1e9)).In(time.FixedZone("y", rng.IntN(50000)-25000)))
	}
	strs := []string{"", "e", "decision.made", "évé\x00nt-42"}
	for i, at := range times {
		m := schemas.Meta{EventID: strs[i%4], Source: strs[(i/4)%4], EventType: strs[(i/16)%4], ReceivedAt: at, SvixID: strs[(i/64)%4]}
		want := referenceHeaders(m)
		for _, got := range [][]kgo.RecordHeader{m.Headers(), appendedTo(m, nil), appendedTo(m, make([]byte, 3, 4))} {
			if len(got) != len(want) {
				t.Fatalf("%+v: %d headers, want %d", m, len(got), len(want))
			}
			for j := range want {
				g, w := got[j], want[j]
				if g.Key != w.Key || !bytes.Equal(g.Value, w.Value) || (g.Value == nil) != (w.Value == nil) {
					t.Fatalf("%+v: header %d is %q=%q (nil %v), want %q=%q (nil %v)", m, j, g.Key, g.Value, g.Value == nil, w.Key, w.Value, w.Value == nil)
				}
			}
			for j := range got {
				got[j].Value = append(got[j].Value, '!')
			}
			for j := range want {
				if v := got[j].Value; !bytes.Equal(v[:len(v)-1], want[j].Value) {
					t.Fatalf("%+v: appending to a header value overwrote header %d: %q", m, j, v)
				}
			}
		}
	}
}

func appendedTo(m schemas.Meta, buf []byte) []kgo.RecordHeader {
	_, hs := m.AppendHeadersTo(buf, nil)
	return hs
}
