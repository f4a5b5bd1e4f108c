package consumers

import (
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Start positions a group can be given; any other value must be an RFC3339
// time.
const (
	StartCommitted = "committed"
	StartEarliest  = "earliest"
	StartLatest    = "latest"
)

// StartOffset turns a start position into the offset a group uses for every
// partition without a committed offset. "committed" (and "") mean resume
// where the group left off and start a partition nobody committed at the
// earliest offset, so a new group never skips what is already in the topic.
//
// It is deliberately only a reset offset: a partition with a committed
// offset always resumes there. Moving a group that has commits is what
// `hookbridge replay` is for.
func StartOffset(from string) (kgo.Offset, error) {
	switch strings.ToLower(strings.TrimSpace(from)) {
	case "", StartCommitted, StartEarliest:
		return kgo.NewOffset().AtStart(), nil
	case StartLatest:
		return kgo.NewOffset().AtEnd(), nil
	}
	t, err := time.Parse(time.RFC3339, from)
	if err != nil {
		return kgo.Offset{}, fmt.Errorf("start position %q: use committed, earliest, latest or an RFC3339 time such as 2024-05-01T00:00:00Z", from)
	}
	return kgo.NewOffset().AfterMilli(t.UnixMilli()), nil
}
