package dedupe

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A changelog entry says "input partition P emitted the id with hash H at
// record time T": key P (4 bytes) ‖ H (8 bytes), value T (8 bytes, ms), all
// big-endian. It goes to changelog partition P (modulo the changelog's
// partition count) in the same transaction as the output record, so the
// state and the output can never disagree. Compaction keeps the latest
// entry of each key.
const (
	changelogKeyLen   = 12
	changelogValueLen = 8
)

func changelogRecord(topic string, partition int32, h uint64, ts int64) *kgo.Record {
	kv := make([]byte, changelogKeyLen+changelogValueLen)
	binary.BigEndian.PutUint32(kv, uint32(partition))
	binary.BigEndian.PutUint64(kv[4:], h)
	binary.BigEndian.PutUint64(kv[changelogKeyLen:], uint64(ts))
	return &kgo.Record{Topic: topic, Partition: partition, Key: kv[:changelogKeyLen], Value: kv[changelogKeyLen:]}
}

// restoreIdleTimeout ends a restore that stopped receiving records before
// the end offset it aimed for; that only happens when compaction removed
// the log's last records, and then everything there was to read was read.
const restoreIdleTimeout = 10 * time.Second

// restore reads the changelog of one input partition from its start to its
// last stable offset (read_committed) into s, once every transaction open
// on it has ended (waitSettled): the previous owner's last transaction is
// settled by then, and so is any a dead member left open.
func restore(ctx context.Context, kopts []kgo.Opt, log *slog.Logger, changelog string, partition int32, s *seenSet) error {
	adm, err := kgo.NewClient(kopts...)
	if err != nil {
		return fmt.Errorf("dedupe: restoring from %s: %w", changelog, err)
	}
	defer adm.Close()
	ka := kadm.NewClient(adm)
	starts, err := ka.ListStartOffsets(ctx, changelog)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("dedupe: listing the start offsets of %s (does `hookbridge topics apply` need to run?): %w", changelog, err)
	}
	ends, err := ka.ListCommittedOffsets(ctx, changelog)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("dedupe: listing the stable offsets of %s: %w", changelog, err)
	}
	n := int32(len(ends[changelog]))
	if n == 0 {
		return fmt.Errorf("dedupe: changelog topic %s has no partitions: create it with `hookbridge topics apply`", changelog)
	}
	clp := partition % n
	startOff, _ := starts.Lookup(changelog, clp)
	endOff, _ := ends.Lookup(changelog, clp)
	if endOff.Offset, err = waitSettled(ctx, ka, log, changelog, clp, endOff.Offset); err != nil {
		return err
	}
	if endOff.Offset <= startOff.Offset {
		return nil
	}

	cl, err := kgo.NewClient(append(slices.Clip(kopts),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{changelog: {clp: kgo.NewOffset().At(startOff.Offset)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Control records (transaction markers) are returned so the loop
		// can see it reached the end offset even when the last offset
		// is a commit marker.
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return fmt.Errorf("dedupe: restoring from %s: %w", changelog, err)
	}
	defer cl.Close()
	last := endOff.Offset - 1
	read := 0
	for at := int64(-1); at < last; {
		pctx, cancel := context.WithTimeout(ctx, restoreIdleTimeout)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return err
		}
		if pctx.Err() != nil && fs.NumRecords() == 0 {
			log.Warn("changelog restore stopped short of its end offset; assuming compaction removed the tail",
				"changelog", changelog, "partition", clp, "reached", at, "end", last)
			break
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return fmt.Errorf("dedupe: reading %s/%d: %w", changelog, clp, ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			at = max(at, r.Offset)
			if r.Attrs.IsControl() || r.Offset > last || len(r.Key) != changelogKeyLen || len(r.Value) != changelogValueLen {
				return
			}
			if int32(binary.BigEndian.Uint32(r.Key)) != partition {
				return
			}
			s.add(binary.BigEndian.Uint64(r.Key[4:]), int64(binary.BigEndian.Uint64(r.Value)))
			read++
		})
	}
	log.Info("restored seen ids", "changelog", changelog, "partition", partition, "entries", read, "remembered", s.len())
	return nil
}
