//go:build realkafka

package klaviyo

import (
	"os"
	"testing"

	"github.com/hookbridge/hookbridge/internal/kafkatest"
)

var real = kafkatest.NewShared(kafkatest.Options{Nodes: 3})

func TestMain(m *testing.M) { os.Exit(real.Main(m)) }

// TestRealForwarderEndToEnd runs the forwarder's end-to-end assertions on
// the real cluster: through Klaviyo's faults and a forwarder killed
// mid-stream (no time to flush or commit) and its group handed to a new
// one, every good event reaches (the fake) Klaviyo once per unique_id, bad
// ones and poison records end in the dead letters.
func TestRealForwarderEndToEnd(t *testing.T) {
	checkForwarderEndToEnd(t, real.Get(t).Env(t))
}
