package topics

import (
	"maps"
	"os"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/hookbridge/hookbridge/internal/config"
)

// deploy/topics.yaml is what operators read to see the topics; it must say
// what `topics apply` creates with the default configuration.
func TestDeployFileListsWhatApplyCreates(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/topics.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Topics []struct {
			Name       string            `yaml:"name"`
			Partitions int32             `yaml:"partitions"`
			Config     map[string]string `yaml:"config"`
		} `yaml:"topics"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatalf("deploy/topics.yaml: %v", err)
	}
	cfg, err := config.Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]int{}
	for i, ft := range file.Topics {
		listed[ft.Name] = i
	}
	for _, s := range Specs(cfg.Topics) {
		i, ok := listed[s.Name]
		if !ok {
			t.Errorf("deploy/topics.yaml does not list %s", s.Name)
			continue
		}
		delete(listed, s.Name)
		ft := file.Topics[i]
		want := map[string]string{}
		for k, v := range s.Configs {
			want[k] = *v
		}
		if ft.Partitions != s.Partitions || !maps.Equal(ft.Config, want) {
			t.Errorf("%s: file says %d partitions, %v; topics apply: %d, %v", s.Name, ft.Partitions, ft.Config, s.Partitions, want)
		}
	}
	if len(listed) > 0 {
		t.Errorf("deploy/topics.yaml lists topics apply does not create: %v", slices.Sorted(maps.Keys(listed)))
	}
}
