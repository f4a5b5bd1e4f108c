package warehouse

import (
	"path"
	"strconv"
	"strings"
	"time"
)

// Suffix ends every finished file, and only finished files: engines glob
// for it, so files being written are named otherwise.
const Suffix = ".parquet"

// offsetWidth is the zero-padded width of offsets in file names, so
// names sort in offset order (19 digits hold every 64-bit offset).
const offsetWidth = 19

// Layout names files under a root:
//
//	<prefix>/<topic>/dt=YYYY-MM-DD/hr=HH/<topic>+<partition>+<first offset>.parquet
//
// with dt and hr of the event time in UTC: Hive-style partitions that
// DuckDB, Spark and Athena prune on.
type Layout struct {
	// Prefix goes before every key ("" for none); keys use forward slashes
	// whatever the store.
	Prefix string
}

// Key returns the key of the file of topic and partition that starts at
// offset first and holds events of the hour of t.
func (l Layout) Key(topic string, partition int32, hour time.Time, first int64) string {
	hour = hour.UTC()
	var b strings.Builder
	b.Grow(len(topic)*2 + 64)
	b.WriteString(topic)
	b.WriteString("/dt=")
	b.WriteString(hour.Format("2006-01-02"))
	b.WriteString("/hr=")
	b.WriteString(hour.Format("15"))
	b.WriteByte('/')
	b.WriteString(FileName(topic, partition, first))
	if l.Prefix == "" {
		return b.String()
	}
	return path.Join(l.Prefix, b.String())
}

// FileName is the name of the file of topic and partition that starts at
// offset first: <topic>+<partition>+<first offset, zero-padded>.parquet.
func FileName(topic string, partition int32, first int64) string {
	off := strconv.FormatInt(first, 10)
	if n := offsetWidth - len(off); n > 0 {
		off = strings.Repeat("0", n) + off
	}
	return topic + "+" + strconv.FormatInt(int64(partition), 10) + "+" + off + Suffix
}
