package config

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

var (
	yamlLine     = regexp.MustCompile(`line (\d+): `)
	unknownField = regexp.MustCompile(`^line (\d+)( \(([^)]*)\))?: field (\S+) not found in type \S+$`)
	badDuration  = regexp.MustCompile(`^line (\d+)( \(([^)]*)\))?: cannot unmarshal !!\w+ .* into time.Duration$`)
)

// explainYAML turns a YAML decoding error into one a person can act on:
// syntax errors get the line where the problem really is, type errors name
// the field at their line, unknown keys suggest the nearest valid one.
func explainYAML(raw []byte, err error) string {
	var root yaml.Node
	if yaml.Unmarshal(raw, &root) != nil {
		return explainSyntax(raw, err)
	}
	lines := strings.Split(nameFields(&root, err.Error()), "\n")
	for i, l := range lines {
		lines[i] = explainField(&root, l)
	}
	return strings.Join(lines, "\n")
}

// explainSyntax finds the two syntax mistakes yaml.v3 words least helpfully:
// tabs (which YAML forbids for indentation) and an unclosed [ or {, which it
// reports at the line where the enclosing mapping starts.
func explainSyntax(raw []byte, err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	text := strings.Split(string(raw), "\n")
	if strings.Contains(msg, "tab character") || strings.Contains(msg, "cannot start any token") {
		for i, l := range text {
			if strings.HasPrefix(strings.TrimLeft(l, " "), "\t") {
				return fmt.Sprintf("line %d: tabs are not allowed for indentation in YAML; indent with spaces", i+1)
			}
		}
	}
	if strings.Contains(msg, "did not find expected ',' or ']'") || strings.Contains(msg, "did not find expected ',' or '}'") {
		if open, end := unclosedFlow(text); open > 0 {
			until := "the end of the file"
			if end > 0 {
				until = "line " + strconv.Itoa(end)
			}
			return fmt.Sprintf("line %d: a [ or { opened here is not closed before %s", open, until)
		}
	}
	return msg
}

// unclosedFlow returns the line (1-based) of a [ or { that is still open
// when a line no deeper indented than it begins, and that line (0: the end
// of the file). Quoted strings and comments are skipped.
func unclosedFlow(text []string) (open, end int) {
	depth, openIndent := 0, 0
	for i, l := range text {
		trimmed := strings.TrimLeft(l, " ")
		indent := len(l) - len(trimmed)
		if depth > 0 && trimmed != "" && !strings.HasPrefix(trimmed, "#") && indent <= openIndent {
			return open, i + 1
		}
		var quote rune
		for _, r := range l {
			switch {
			case quote != 0:
				if r == quote {
					quote = 0
				}
			case r == '"' || r == '\'':
				quote = r
			case r == '#':
				goto next
			case r == '[' || r == '{':
				if depth == 0 {
					open, openIndent = i+1, indent
				}
				depth++
			case r == ']' || r == '}':
				depth = max(depth-1, 0)
			}
		}
	next:
	}
	if depth > 0 {
		return open, 0
	}
	return 0, 0
}

// nameFields rewrites yaml.v3's "line 3: cannot unmarshal ..." messages to
// name the field at that line ("line 3 (topics.partitions): ..."), so a
// bad value is found without counting lines.
func nameFields(root *yaml.Node, msg string) string {
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n  ")
	msg = strings.ReplaceAll(msg, "\n  line", "\nline")
	return yamlLine.ReplaceAllStringFunc(msg, func(m string) string {
		n, _ := strconv.Atoi(yamlLine.FindStringSubmatch(m)[1])
		if path, _ := fieldAt(root, n, nil); path != "" {
			return "line " + strconv.Itoa(n) + " (" + path + "): "
		}
		return m
	})
}

// explainField rewords an unknown-key or bad-duration line.
func explainField(root *yaml.Node, line string) string {
	if m := unknownField.FindStringSubmatch(line); m != nil {
		path := m[3]
		if path == "" {
			path = m[4]
		}
		msg := fmt.Sprintf("line %s: unknown key %s", m[1], path)
		parent, key := "", path
		if i := strings.LastIndex(path, "."); i >= 0 {
			parent, key = path[:i], path[i+1:]
		}
		valid := keysAt(reflect.TypeFor[Config](), parent)
		if s := nearest(key, valid); s != "" {
			return msg + "; did you mean " + strings.TrimPrefix(parent+"."+s, ".") + "?"
		}
		if len(valid) > 0 {
			return msg + " (valid keys here: " + strings.Join(valid, ", ") + ")"
		}
		return msg
	}
	if m := badDuration.FindStringSubmatch(line); m != nil {
		n, _ := strconv.Atoi(m[1])
		_, val := fieldAt(root, n, nil)
		return fmt.Sprintf("line %s (%s): %q is not a duration; write a number with a unit, such as 500ms, 30s, 5m, 1h30m or 168h", m[1], m[3], val)
	}
	return line
}

// keysAt lists the YAML keys of the struct at the dotted path under t.
func keysAt(t reflect.Type, path string) []string {
	for _, part := range strings.Split(path, ".") {
		part, _, _ = strings.Cut(part, "[")
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if part == "" || t.Kind() != reflect.Struct {
			continue
		}
		f, ok := fieldByKey(t, part)
		if !ok {
			return nil
		}
		t = f.Type
	}
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for i := range t.NumField() {
		if k := yamlKey(t.Field(i)); k != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if yamlKey(t.Field(i)) == key {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

func yamlKey(f reflect.StructField) string {
	k, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if k == "-" || !f.IsExported() {
		return ""
	}
	return k
}

// nearest returns the valid key closest to key by edit distance, when it is
// close enough to be a typo.
func nearest(key string, valid []string) string {
	best, bestD := "", len(key)/2+1
	for _, v := range valid {
		if d := editDistance(key, v); d < bestD || (d == bestD && best == "" && strings.HasPrefix(v, key)) {
			best, bestD = v, d
		}
	}
	return best
}

// editDistance counts the insertions, deletions, substitutions and swaps
// of neighbours that turn a into b (optimal string alignment).
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// fieldAt returns the dotted key path of the value that starts at line,
// and that value when it is a scalar.
func fieldAt(n *yaml.Node, line int, path []string) (string, string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if p, v := fieldAt(c, line, path); p != "" {
				return p, v
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			p := append(path[:len(path):len(path)], key.Value)
			if key.Line == line || (val.Line == line && val.Kind == yaml.ScalarNode) {
				return strings.Join(p, "."), val.Value
			}
			if found, v := fieldAt(val, line, p); found != "" {
				return found, v
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
				return strings.Join(p, "."), c.Value
			}
			if found, v := fieldAt(c, line, p); found != "" {
				return found, v
			}
		}
	}
	return "", ""
}
