package testkit

import (
	"bytes"
	"log/slog"
	"os"
	"sync"
	"testing"
)

// LogBuffer collects a component's logs and prints them when the test
// fails (or always, with HOOKBRIDGE_TEST_LOGS=1). It is safe for
// concurrent use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// NewLogBuffer returns a LogBuffer tied to t.
func NewLogBuffer(t testing.TB) *LogBuffer {
	b := &LogBuffer{}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("HOOKBRIDGE_TEST_LOGS") != "" {
			t.Logf("logs:\n%s", b.String())
		}
	})
	return b
}

// Write implements io.Writer.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything logged so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Logger returns a debug-level text logger writing to b.
func (b *LogBuffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
