package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// topics apply prints each config it changes on an existing topic, old →
// new, keeps a retention raised by hand, and changes nothing in a dry run.
func TestTopicsApplyPrintsChangesAndKeepsARaisedRetention(t *testing.T) {
	env := groupsFixture(t)
	raw := env.Config.Topics.Pique()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adm := kadm.NewClient(env.Client(t))
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("2592000000")},
		{Op: kadm.SetConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")},
	}, raw); err != nil {
		t.Fatal(err)
	}
	kept := "kept retention.ms: 2592000000 (the configuration says 604800000; --lower sets it)"
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"apply", "--dry-run"}, []string{"would set cleanup.policy: compact → delete", kept, "dry run: nothing created or changed"}},
		{[]string{"apply"}, []string{"set cleanup.policy: compact → delete", kept}},
		{[]string{"apply"}, []string{kept}},
		{[]string{"apply", "--lower"}, []string{"set retention.ms: 2592000000 → 604800000"}},
	} {
		out, stderr, err := runCmd(t, 30*time.Second, cmdTopics, c.args...)
		if err != nil {
			t.Fatalf("topics %v: %v\nstderr: %s", c.args, err, stderr)
		}
		t.Logf("topics %v:\n%s", c.args, out)
		var changes []string
		for line := range strings.Lines(out) {
			if strings.HasPrefix(line, "    ") || strings.HasPrefix(line, "dry run") {
				changes = append(changes, strings.TrimSpace(line))
			}
		}
		if strings.Join(changes, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("topics %v printed changes\n%s\nwant\n%s\nwhole output:\n%s", c.args, strings.Join(changes, "\n"), strings.Join(c.want, "\n"), out)
		}
	}
}
