//go:build realkafka

package main

import (
	"os"
	"testing"

	"github.com/hookbridge/hookbridge/internal/kafkatest"
)

var real = kafkatest.NewShared(kafkatest.Options{Nodes: 3})

func TestMain(m *testing.M) { os.Exit(real.Main(m)) }

// TestRealReplay runs replay's assertions against a real group
// coordinator: it refuses while the group has active members, and resets
// each partition to the earliest offset, a timestamp (the broker's
// ListOffsets by time) and an offset.
func TestRealReplay(t *testing.T) {
	checkReplay(t, newReplayFixtureOn(t, real.Get(t).Env(t)))
}

// TestRealReplayRefusesActiveKIP848Group: checkReplayRefusesActiveKIP848Group
// against a real group coordinator.
func TestRealReplayRefusesActiveKIP848Group(t *testing.T) {
	checkReplayRefusesActiveKIP848Group(t, newReplayFixtureOn(t, real.Get(t).Env(t)))
}

// TestRealGroupsShowsKIP848Members: checkGroupsShowsKIP848Members against
// a real group coordinator.
func TestRealGroupsShowsKIP848Members(t *testing.T) {
	checkGroupsShowsKIP848Members(t, newReplayFixtureOn(t, real.Get(t).Env(t)), true)
}
