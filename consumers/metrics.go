package consumers

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookbridge/hookbridge/internal/metrics"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Metrics are the runner's Prometheus metrics. The registerer the caller
// passes is already labelled with the group, so these carry only topic and
// partition. Dedupe uses the same set from its own loop.
type Metrics struct {
	processed *prometheus.CounterVec
	failed    *prometheus.CounterVec
	errors    *prometheus.CounterVec
	lag       *prometheus.GaugeVec
}

// NewMetrics registers the runner's metrics with reg (nil: not exported).
// Registering twice in one registry reuses the first collectors, so a
// group can be restarted within one process.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookbridge_consumer_records_processed_total",
			Help: "Records a consumer group finished, dead letters included.",
		}, []string{"topic"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookbridge_consumer_records_failed_total",
			Help: "Records that could not be processed and went to the dead-letter topic, by reason.",
		}, []string{"topic", "reason"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookbridge_consumer_errors_total",
			Help: "Errors by kind: fetch, commit, deadletter, process, transaction.",
		}, []string{"kind"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hookbridge_consumer_lag_records",
			Help: "Records between the consumer's position and the partition's last stable offset (the end a read_committed reader can reach), as of the last fetch.",
		}, []string{"topic", "partition"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.processed, err = metrics.Register(reg, m.processed); err != nil {
		return nil, err
	}
	if m.failed, err = metrics.Register(reg, m.failed); err != nil {
		return nil, err
	}
	if m.errors, err = metrics.Register(reg, m.errors); err != nil {
		return nil, err
	}
	if m.lag, err = metrics.Register(reg, m.lag); err != nil {
		return nil, err
	}
	return m, nil
}

// Processed counts n records of topic as done.
func (m *Metrics) Processed(topic string, n int) {
	m.processed.WithLabelValues(topic).Add(float64(n))
}

// Failed counts n records of topic sent to the dead-letter topic for
// reason.
func (m *Metrics) Failed(topic, reason string, n int) {
	m.failed.WithLabelValues(topic, reason).Add(float64(n))
}

// Error counts one error of the given kind.
func (m *Metrics) Error(kind string) { m.errors.WithLabelValues(kind).Inc() }

// ObserveFetch sets the lag of every partition in fs from its last stable
// offset and the last record fetched. Readers are read_committed, so the
// end they can reach is the last stable offset, not the high watermark; and
// a transaction's commit marker is a record of the log, so the fetch must
// keep control records (the runner does) for a caught-up partition of a
// transactional topic to read 0.
func (m *Metrics) ObserveFetch(fs kgo.Fetches) {
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		next := p.Records[len(p.Records)-1].Offset + 1
		end := p.LastStableOffset
		if end < 0 { // a broker that does not report it
			end = p.HighWatermark
		}
		lag := max(end-next, 0)
		m.lag.WithLabelValues(p.Topic, strconv.Itoa(int(p.Partition))).Set(float64(lag))
	})
}

// Forget drops the lag series of partitions this member no longer owns, so
// two members never both report one partition.
func (m *Metrics) Forget(partitions map[string][]int32) {
	for t, ps := range partitions {
		for _, p := range ps {
			m.lag.DeleteLabelValues(t, strconv.Itoa(int(p)))
		}
	}
}
