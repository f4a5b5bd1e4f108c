package dedupe

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// settleTimeout bounds the wait for transactions left open on a changelog
// partition; the broker aborts an abandoned one after its producer's
// transaction timeout (one minute by default).
const settleTimeout = 3 * time.Minute

// waitSettled waits until every transaction that was open on a changelog
// partition when the restore began has ended, and returns the partition's
// last stable offset then.
//
// A member that dies inside a transaction leaves it open until the broker
// aborts it after the transaction timeout, and until then the last stable
// offset stays before its first record: entries that later owners of the
// partition committed after it are invisible to read_committed. Restoring
// up to that offset would forget ids they emitted, and emit them again.
func waitSettled(ctx context.Context, ka *kadm.Client, log *slog.Logger, changelog string, partition int32, stable int64) (int64, error) {
	ends, err := ka.ListEndOffsets(ctx, changelog)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("dedupe: listing the end offsets of %s: %w", changelog, err)
	}
	end, _ := ends.Lookup(changelog, partition)
	if stable >= end.Offset {
		return stable, nil
	}
	log.Info("waiting for open transactions on the changelog to end before restoring",
		"changelog", changelog, "partition", partition, "stable", stable, "end", end.Offset)
	ctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("dedupe: a transaction on %s/%d stayed open past %v (last stable offset %d, end %d): %w",
				changelog, partition, settleTimeout, stable, end.Offset, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
		offs, err := ka.ListCommittedOffsets(ctx, changelog)
		if err != nil || offs.Error() != nil {
			continue // a leader moving; try again
		}
		if o, ok := offs.Lookup(changelog, partition); ok && o.Offset >= end.Offset {
			return o.Offset, nil
		}
	}
}
