package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/consumers"
	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/connect"
	"github.com/hookbridge/hookbridge/schemas"
)

// HeaderRedrivenFrom names the dead letter a redriven record was copied
// from: <dead-letter topic>/<partition>/<offset>.
const HeaderRedrivenFrom = "redriven-from"

// cmdDeadLetters lists dead letters and redrives chosen ones.
func cmdDeadLetters(ctx context.Context, args []string, std stdio) error {
	fs := newFlags("deadletters list|redrive [filters] [--json] [--dry-run] [--config FILE]", `
list: prints the dead letters (committed records of the dead-letter topic),
each with its error headers and its value decoded through the schema registry
where it is Avro. Filters combine: all must hold.
redrive: copies the chosen dead letters back to their original topic with the
same key, value and headers, plus a redriven-from header naming the dead
letter. A dead letter already redriven (its copy is in the original topic) is
not copied again, so running redrive twice is safe: to know, it reads each
original topic from the earliest failure among the chosen letters (keeping only
the redriven-from headers), which takes longer the more that topic holds since
then; narrow the choice with --since or --at, or raise --timeout. Run it with
--dry-run first: it prints what it would copy.`, std)
	cfgPath := configFlag(fs)
	var f deadLetterFilter
	f.flags(fs)
	asJSON := fs.Bool("json", false, "list: one JSON line per dead letter")
	dryRun := fs.Bool("dry-run", false, "redrive: print what would be copied, copy nothing")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up after this long (0: no limit)")
	if len(args) == 0 || (args[0] != "list" && args[0] != "redrive") {
		if err := fs.Parse(args); err != nil {
			return err
		}
		fs.Usage()
		return errors.New("use 'hookbridge deadletters list' or 'hookbridge deadletters redrive'")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if err := f.parse(); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	letters, err := readDeadLetters(ctx, cfg, f)
	if err != nil {
		return err
	}
	if args[0] == "list" {
		return listDeadLetters(ctx, cfg, letters, *asJSON, std.out)
	}
	if f.empty() {
		return errors.New("redrive needs a choice: --group, --kind, --reason, --topic, --since/--until or --at (to redrive every dead letter, say --since 1970-01-01T00:00:00Z)")
	}
	return redrive(ctx, cfg, letters, *dryRun, std.out)
}

// deadLetter is one record of the dead-letter topic with its error headers.
type deadLetter struct {
	rec               *kgo.Record
	Error, Group      string
	Kind              string // "" for dead letters written before error-kind existed
	FailedAt          time.Time
	OriginalTopic     string
	OriginalPartition int32
	OriginalOffset    int64
}

func deadLetterOf(r *kgo.Record) deadLetter {
	d := deadLetter{rec: r, Error: schemas.Header(r, consumers.HeaderError), Group: schemas.Header(r, consumers.HeaderConsumerGroup),
		Kind:          schemas.Header(r, consumers.HeaderErrorKind),
		OriginalTopic: schemas.Header(r, consumers.HeaderOriginalTopic), OriginalPartition: -1, OriginalOffset: -1}
	d.FailedAt, _ = time.Parse(time.RFC3339Nano, schemas.Header(r, consumers.HeaderFailedAt))
	if p, err := strconv.ParseInt(schemas.Header(r, consumers.HeaderOriginalPartition), 10, 32); err == nil {
		d.OriginalPartition = int32(p)
	}
	if o, err := strconv.ParseInt(schemas.Header(r, consumers.HeaderOriginalOffset), 10, 64); err == nil {
		d.OriginalOffset = o
	}
	return d
}

// origin is where the dead letter's record was read: topic/partition/offset.
func (d deadLetter) origin() string {
	return fmt.Sprintf("%s/%d/%d", d.OriginalTopic, d.OriginalPartition, d.OriginalOffset)
}

// self is the dead letter's own address, the redriven-from header value.
func (d deadLetter) self() string {
	return fmt.Sprintf("%s/%d/%d", d.rec.Topic, d.rec.Partition, d.rec.Offset)
}

// deadLetterFilter chooses dead letters; the zero filter chooses all.
type deadLetterFilter struct {
	group, kind, reason, topic, since, until string
	at                                       atList
	from, to                                 time.Time
}

// atList is the repeatable --at flag.
type atList []string

func (a *atList) String() string     { return strings.Join(*a, ",") }
func (a *atList) Set(v string) error { *a = append(*a, v); return nil }

func (f *deadLetterFilter) flags(fs *flag.FlagSet) {
	fs.StringVar(&f.group, "group", "", "only dead letters of this consumer `group`")
	fs.StringVar(&f.kind, "kind", "", "only dead letters of this error `kind` (exact), e.g. undecodable or rejected; dead letters without an error-kind header never match")
	fs.StringVar(&f.reason, "reason", "", "only dead letters whose error contains this `text` (case-insensitive), e.g. \"wire format\"")
	fs.StringVar(&f.topic, "topic", "", "only dead letters read from this original `topic`")
	fs.StringVar(&f.since, "since", "", "only dead letters that failed at or after this RFC3339 `time`")
	fs.StringVar(&f.until, "until", "", "only dead letters that failed before this RFC3339 `time`")
	fs.Var(&f.at, "at", "only the dead letter of this original `topic/partition/offset` (repeatable)")
}

func (f *deadLetterFilter) parse() error {
	for _, t := range []struct {
		flag, v string
		dst     *time.Time
	}{{"--since", f.since, &f.from}, {"--until", f.until, &f.to}} {
		if t.v == "" {
			continue
		}
		at, err := time.Parse(time.RFC3339, t.v)
		if err != nil {
			return fmt.Errorf("%s %q: use an RFC3339 time such as 2024-05-01T00:00:00Z", t.flag, t.v)
		}
		*t.dst = at
	}
	for _, a := range f.at {
		if parts := strings.Split(a, "/"); len(parts) < 3 {
			return fmt.Errorf("--at %q: use topic/partition/offset, e.g. pique.decisions.v1/0/42", a)
		}
	}
	return nil
}

func (f *deadLetterFilter) empty() bool {
	return f.group == "" && f.kind == "" && f.reason == "" && f.topic == "" && f.from.IsZero() && f.to.IsZero() && len(f.at) == 0
}

func (f *deadLetterFilter) match(d deadLetter) bool {
	switch {
	case f.group != "" && d.Group != f.group,
		f.kind != "" && d.Kind != f.kind,
		f.reason != "" && !strings.Contains(strings.ToLower(d.Error), strings.ToLower(f.reason)),
		f.topic != "" && d.OriginalTopic != f.topic,
		!f.from.IsZero() && d.FailedAt.Before(f.from),
		!f.to.IsZero() && !d.FailedAt.Before(f.to):
		return false
	}
	if len(f.at) == 0 {
		return true
	}
	for _, a := range f.at {
		if a == d.origin() {
			return true
		}
	}
	return false
}

// readDeadLetters returns the committed dead letters that f chooses.
func readDeadLetters(ctx context.Context, cfg *config.Config, f deadLetterFilter) ([]deadLetter, error) {
	var out []deadLetter
	err := scanToStable(ctx, cfg, cfg.Topics.DeadLetter(), nil, func(r *kgo.Record) {
		if d := deadLetterOf(r); f.match(d) {
			out = append(out, d)
		}
	})
	return out, err
}

// scanToStable reads topic read_committed up to its last stable offsets,
// from the offsets in from (the log start where absent), and passes each
// data record to each, keeping none itself: a topic can hold far more than
// memory. opts are added to the reading client's options.
func scanToStable(ctx context.Context, cfg *config.Config, topic string, from map[int32]kgo.Offset, each func(*kgo.Record), opts ...kgo.Opt) error {
	starts, left, err := stableSpan(ctx, cfg, topic, from)
	if err != nil || len(left) == 0 {
		return err
	}
	cl, err := newKafkaClient(cfg, append([]kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: starts}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords()}, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("reading %s: %w", topic, ctx.Err())
		}
		if err := fs.Err(); err != nil {
			return fmt.Errorf("reading %s: %w", topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := left[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if !r.Attrs.IsControl() {
				each(r)
			}
			if r.Offset+1 >= end {
				delete(left, r.Partition)
			}
		})
	}
	return nil
}

// stableSpan returns where to start reading each partition of topic (from,
// else the log start) and the last stable offset that ends it, for the
// partitions with records between the two.
func stableSpan(ctx context.Context, cfg *config.Config, topic string, from map[int32]kgo.Offset) (map[int32]kgo.Offset, map[int32]int64, error) {
	cl, err := newKafkaClient(cfg)
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	stable, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = stable.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("listing the last stable offsets of %s: %w", topic, err)
	}
	starts := map[int32]kgo.Offset{}
	left := map[int32]int64{}
	stable.Each(func(o kadm.ListedOffset) {
		start, ok := from[o.Partition]
		if !ok {
			start = kgo.NewOffset().AtStart()
		}
		if o.Offset > 0 && (!ok || start.EpochOffset().Offset < o.Offset) {
			starts[o.Partition], left[o.Partition] = start, o.Offset
		}
	})
	return starts, left, nil
}

// listDeadLetters prints letters as a table, or as JSON lines: tail's line
// (decoded value, headers) plus the dead letter's error headers.
func listDeadLetters(ctx context.Context, cfg *config.Config, letters []deadLetter, asJSON bool, w io.Writer) error {
	if asJSON {
		src, err := connect.SchemaRegistry(cfg.SchemaRegistry)
		if err != nil {
			return err
		}
		reg := schemas.NewRegistry(src)
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, d := range letters {
			line := tailLine(ctx, reg, d.rec)
			line["dead_letter"] = map[string]any{"error": d.Error, "kind": d.Kind, "group": d.Group, "failed_at": d.FailedAt.UTC().Format(time.RFC3339Nano),
				"original_topic": d.OriginalTopic, "original_partition": d.OriginalPartition, "original_offset": d.OriginalOffset}
			if err := enc.Encode(line); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FAILED AT\tGROUP\tORIGINAL (TOPIC/PARTITION/OFFSET)\tEVENT ID\tKIND\tERROR")
	for _, d := range letters {
		msg := d.Error
		if len(msg) > 120 {
			msg = msg[:117] + "..."
		}
		kind := d.Kind
		if kind == "" {
			kind = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.FailedAt.UTC().Format(time.RFC3339), d.Group, d.origin(),
			schemas.Header(d.rec, schemas.HeaderEventID), kind, msg)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d dead letters\n", len(letters))
	return nil
}

// errorHeaders are the headers a dead letter adds; a redriven copy drops
// them so it carries the original record's headers only.
var errorHeaders = map[string]bool{
	consumers.HeaderError: true, consumers.HeaderErrorKind: true, consumers.HeaderFailedAt: true, consumers.HeaderConsumerGroup: true,
	consumers.HeaderOriginalTopic: true, consumers.HeaderOriginalPartition: true, consumers.HeaderOriginalOffset: true,
	HeaderRedrivenFrom: true,
}

// redriveRecord is d's copy for its original topic.
func redriveRecord(d deadLetter) *kgo.Record {
	headers := make([]kgo.RecordHeader, 0, len(d.rec.Headers)+1)
	for _, h := range d.rec.Headers {
		if !errorHeaders[h.Key] {
			headers = append(headers, h)
		}
	}
	headers = append(headers, kgo.RecordHeader{Key: HeaderRedrivenFrom, Value: []byte(d.self())})
	// The original partition, not the key's hash: dedupe's memory of an id
	// is per partition, and that is where the original was.
	return &kgo.Record{Topic: d.OriginalTopic, Partition: d.OriginalPartition, Key: d.rec.Key, Value: d.rec.Value, Headers: headers}
}

// redrive copies letters to their original topics, except those whose copy
// is already there.
func redrive(ctx context.Context, cfg *config.Config, letters []deadLetter, dryRun bool, w io.Writer) error {
	done, err := alreadyRedriven(ctx, cfg, letters)
	if err != nil {
		return err
	}
	var todo []*kgo.Record
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEAD LETTER\tTO TOPIC\tEVENT ID\tACTION")
	for _, d := range letters {
		action := "redrive"
		switch {
		case d.OriginalTopic == "" || d.OriginalPartition < 0:
			action = "skip: no original-topic or original-partition header"
		case done[d.self()]:
			action = "skip: already redriven"
		default:
			todo = append(todo, redriveRecord(d))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.self(), d.OriginalTopic, schemas.Header(d.rec, schemas.HeaderEventID), action)
	}
	_ = tw.Flush()
	if dryRun {
		fmt.Fprintf(w, "dry run: %d of %d dead letters would be redriven; nothing written\n", len(todo), len(letters))
		return nil
	}
	if len(todo) > 0 {
		cl, err := newKafkaClient(cfg, kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			return err
		}
		defer cl.Close()
		if err := cl.ProduceSync(ctx, todo...).FirstErr(); err != nil {
			return fmt.Errorf("redriving: %w (what was written carries redriven-from, so running redrive again copies only the rest)", err)
		}
	}
	fmt.Fprintf(w, "%d of %d dead letters redriven\n", len(todo), len(letters))
	return nil
}

// alreadyRedriven returns the dead letters (by address) whose copies are in
// their original topics: it reads each topic from the earliest failure time
// of the letters bound there, since no copy can be older than its failure,
// and keeps only the redriven-from values it finds. opts are added to the
// reading client's options.
func alreadyRedriven(ctx context.Context, cfg *config.Config, letters []deadLetter, opts ...kgo.Opt) (map[string]bool, error) {
	earliest := map[string]time.Time{}
	for _, d := range letters {
		if t, ok := earliest[d.OriginalTopic]; d.OriginalTopic != "" && (!ok || d.FailedAt.Before(t)) {
			earliest[d.OriginalTopic] = d.FailedAt
		}
	}
	topics := make([]string, 0, len(earliest))
	for t := range earliest {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	done := map[string]bool{}
	for _, topic := range topics {
		from, err := offsetsAfter(ctx, cfg, topic, earliest[topic])
		if err != nil {
			return nil, err
		}
		err = scanToStable(ctx, cfg, topic, from, func(r *kgo.Record) {
			if v := schemas.Header(r, HeaderRedrivenFrom); v != "" {
				done[v] = true
			}
		}, opts...)
		if err != nil {
			return nil, err
		}
	}
	return done, nil
}

// offsetsAfter returns, per partition of topic, the first offset of a
// record stamped at or after at (a minute earlier, for clock skew between
// the consumer that failed and the broker).
func offsetsAfter(ctx context.Context, cfg *config.Config, topic string, at time.Time) (map[int32]kgo.Offset, error) {
	cl, err := newKafkaClient(cfg)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	listed, err := kadm.NewClient(cl).ListOffsetsAfterMilli(ctx, at.Add(-time.Minute).UnixMilli(), topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing the offsets of %s after %s: %w", topic, at.Format(time.RFC3339), err)
	}
	out := map[int32]kgo.Offset{}
	listed.Each(func(o kadm.ListedOffset) { out[o.Partition] = kgo.NewOffset().At(o.Offset) })
	return out, nil
}
