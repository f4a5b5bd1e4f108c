package config

import (
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

var yamlLine = regexp.MustCompile(`line (\d+): `)

// nameFields rewrites yaml.v3's "line 3: cannot unmarshal ..." messages to
// name the field at that line ("line 3 (topics.partitions): ..."), so a
// bad value is found without counting lines.
func nameFields(raw []byte, err error) string {
	var root yaml.Node
	if yaml.Unmarshal(raw, &root) != nil {
		return err.Error()
	}
	return yamlLine.ReplaceAllStringFunc(err.Error(), func(m string) string {
		n, _ := strconv.Atoi(yamlLine.FindStringSubmatch(m)[1])
		if path := fieldAt(&root, n, nil); path != "" {
			return "line " + strconv.Itoa(n) + " (" + path + "): "
		}
		return m
	})
}

// fieldAt returns the dotted key path of the value that starts at line.
func fieldAt(n *yaml.Node, line int, path []string) string {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if p := fieldAt(c, line, path); p != "" {
				return p
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			p := append(path, key.Value)
			if key.Line == line || (val.Line == line && val.Kind == yaml.ScalarNode) {
				return strings.Join(p, ".")
			}
			if found := fieldAt(val, line, p); found != "" {
				return found
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := append([]string(nil), path...)
			if len(p) == 0 {
				p = []string{""}
			}
			p[len(p)-1] += "[" + strconv.Itoa(i) + "]"
			if c.Line == line && c.Kind == yaml.ScalarNode {
				return strings.Join(p, ".")
			}
			if found := fieldAt(c, line, p); found != "" {
				return found
			}
		}
	}
	return ""
}
