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
	return l.Dir(topic, hour) + "/" + FileName(topic, partition, first)
}

// Dir returns the directory of the files of topic that hold events of the
// hour of t.
func (l Layout) Dir(topic string, hour time.Time) string {
	hour = hour.UTC()
	dir := topic + "/dt=" + hour.Format("2006-01-02") + "/hr=" + hour.Format("15")
	if l.Prefix == "" {
		return dir
	}
	return path.Join(l.Prefix, dir)
}

// FileName is the name of the file of topic and partition that starts at
// offset first: <topic>+<partition>+<first offset, zero-padded>.parquet.
func FileName(topic string, partition int32, first int64) string {
	off := strconv.FormatInt(first, 10)
	if n := offsetWidth - len(off); n > 0 {
		off = strings.Repeat("0", n) + off
	}
	return filePrefix(topic, partition) + off + Suffix
}

// filePrefix is how the names of topic and partition's files begin.
func filePrefix(topic string, partition int32) string {
	return topic + "+" + strconv.FormatInt(int64(partition), 10) + "+"
}

// firstOffset reads the first offset out of key when key names a file
// whose name begins with prefix (filePrefix; FileName).
func firstOffset(key, prefix string) (int64, bool) {
	name, ok := strings.CutPrefix(path.Base(key), prefix)
	if !ok {
		return 0, false
	}
	off, ok := strings.CutSuffix(name, Suffix)
	if !ok || len(off) < offsetWidth {
		return 0, false
	}
	first, err := strconv.ParseUint(off, 10, 63)
	return int64(first), err == nil
}
