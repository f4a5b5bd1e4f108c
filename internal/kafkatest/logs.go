package kafkatest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// LogMark is where each node's logs stood at some moment.
type LogMark map[int32]int64

// Mark returns the current end of every node's logs, for Logs.
func (c *Cluster) Mark() LogMark {
	m := LogMark{}
	for _, n := range c.nodes {
		if fi, err := os.Stat(filepath.Join(n.dir, "server.log")); err == nil {
			m[n.ID] = fi.Size()
		}
	}
	return m
}

// Logs returns each node's server and stdout logs written since mark (all
// of them if mark is nil), at most the last maxLines lines per node.
func (c *Cluster) Logs(since LogMark, maxLines int) string {
	var b strings.Builder
	for _, n := range c.nodes {
		for _, name := range []string{"server.log", "stdout.log"} {
			raw, err := os.ReadFile(filepath.Join(n.dir, name))
			if err != nil || len(raw) == 0 {
				continue
			}
			if off := since[n.ID]; name == "server.log" && off > 0 && off <= int64(len(raw)) {
				raw = raw[off:]
			}
			lines := bytes.Split(bytes.TrimRight(raw, "\n"), []byte("\n"))
			if len(lines) > maxLines {
				lines = lines[len(lines)-maxLines:]
			}
			fmt.Fprintf(&b, "--- node %d %s (last %d lines) ---\n%s\n", n.ID, name, len(lines), bytes.Join(lines, []byte("\n")))
		}
	}
	return b.String()
}
