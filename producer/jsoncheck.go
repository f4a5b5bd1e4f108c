package producer

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	json "github.com/goccy/go-json"
)

// maxJSONDepth bounds nesting, as encoding/json does.
const maxJSONDepth = 10000

// checkJSON makes one pass over a webhook body and refuses what the typed
// decode would read differently from other readers of raw_json: anything
// but one JSON object, an object with the same key twice (at any depth;
// decoders disagree on which one wins), and bytes after the object other
// than whitespace. It also names the byte of a syntax error, so the decode
// after it only meets type errors, and checks that strings are UTF-8 (so
// what it accepts is UTF-8: see checkBody).
func checkJSON(body []byte) error {
	sc := scannerFor(body)
	defer sc.release()
	return sc.check()
}

// check is checkJSON with sc.
func (sc *jsonScanner) check() error {
	sc.skipSpace()
	if sc.pos >= len(sc.buf) || sc.buf[sc.pos] != '{' {
		return badf("body must be a JSON object")
	}
	if err := sc.value(0); err != nil {
		return err
	}
	sc.skipSpace()
	if sc.pos < len(sc.buf) {
		return badf("malformed JSON at byte %d: data after the top-level object", sc.pos)
	}
	return nil
}

// scanners keeps jsonScanners' stacks between requests.
var scanners = sync.Pool{New: func() any {
	return &jsonScanner{keys: make([][]byte, 0, 64), path: make([]pathSeg, 0, 16), strEnds: make([]strEnd, 0, 64)}
}}

// scannerFor returns a pooled scanner over body; release gives it back.
func scannerFor(body []byte) *jsonScanner {
	sc := scanners.Get().(*jsonScanner)
	sc.buf = body
	return sc
}

// release returns sc to the pool, keeping only its stacks' room: what it
// read (strs) belongs to the values it filled.
func (sc *jsonScanner) release() {
	ends := sc.strEnds[:0]
	if cap(ends) > maxPooledStrEnds {
		ends = nil // a body of many strings does not keep its notes in the pool
	}
	*sc = jsonScanner{keys: sc.keys[:0], path: sc.path[:0], strEnds: ends}
	scanners.Put(sc)
}

// maxPooledStrEnds bounds the string notes a pooled scanner keeps room for.
const maxPooledStrEnds = 1024

// jsonScanner walks JSON without building values. keys holds the keys of
// the objects being walked, innermost last, so duplicates are found
// without allocating per object; path names where an error is.
type jsonScanner struct {
	buf  []byte
	pos  int
	keys [][]byte
	path []pathSeg
	// For the fast readers (jsonread.go): buf as a string, and the values
	// read, which the result points into (never reused: the pool drops
	// them): strings and numbers, booleans, and (in unesc, after text)
	// the text of strings with escapes.
	text  string
	strs  []string
	bools []bool
	unesc strings.Builder
	// When measure is set, str notes where each string ends, so a second
	// pass over the body (a fast reader's, after the check) jumps over
	// them (jumpStr): nextEnd is the first not yet passed again, jumps
	// counts the strings jumped over.
	measure bool
	strEnds []strEnd
	nextEnd int
	jumps   int
}

// strEnd is where a string starting at start ends (after its quote).
type strEnd struct {
	start, end int
	escaped    bool
}

// pathSeg is an object key or, when key is nil, an array index.
type pathSeg struct {
	key   []byte
	index int
}

func (sc *jsonScanner) skipSpace() {
	for sc.pos < len(sc.buf) {
		switch sc.buf[sc.pos] {
		case ' ', '\t', '\n', '\r':
			sc.pos++
		default:
			return
		}
	}
}

func (sc *jsonScanner) syntax(what string) error {
	if sc.pos >= len(sc.buf) {
		return badf("malformed JSON: unexpected end of body, want %s", what)
	}
	return badf("malformed JSON at byte %d: want %s, got %s", sc.pos, what, strconv.QuoteRune(rune(sc.buf[sc.pos])))
}

func (sc *jsonScanner) value(depth int) error {
	if depth > maxJSONDepth {
		return badf("malformed JSON at byte %d: nested deeper than %d", sc.pos, maxJSONDepth)
	}
	sc.skipSpace()
	if sc.pos >= len(sc.buf) {
		return sc.syntax("a value")
	}
	switch c := sc.buf[sc.pos]; {
	case c == '{':
		return sc.object(depth)
	case c == '[':
		return sc.array(depth)
	case c == '"':
		_, err := sc.str(false)
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		return sc.number()
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if end := sc.pos + len(lit); end <= len(sc.buf) && string(sc.buf[sc.pos:end]) == lit {
				sc.pos = end
				return nil
			}
		}
		return sc.syntax("a value")
	}
}

func (sc *jsonScanner) object(depth int) error {
	sc.pos++ // {
	base := len(sc.keys)
	defer func() { sc.keys = sc.keys[:base] }()
	var seen map[string]struct{} // for large objects, where a scan of keys would be quadratic
	for first := true; ; first = false {
		sc.skipSpace()
		if first && sc.pos < len(sc.buf) && sc.buf[sc.pos] == '}' {
			sc.pos++
			return nil
		}
		if sc.pos >= len(sc.buf) || sc.buf[sc.pos] != '"' {
			return sc.syntax("an object key")
		}
		key, err := sc.str(true)
		if err != nil {
			return err
		}
		if sc.duplicate(key, base, &seen) {
			return badf("duplicate key %s", sc.name(string(key)))
		}
		sc.keys = append(sc.keys, key)
		sc.skipSpace()
		if sc.pos >= len(sc.buf) || sc.buf[sc.pos] != ':' {
			return sc.syntax("':' after an object key")
		}
		sc.pos++
		sc.path = append(sc.path, pathSeg{key: key})
		if err := sc.value(depth + 1); err != nil {
			return err
		}
		sc.path = sc.path[:len(sc.path)-1]
		sc.skipSpace()
		if sc.pos < len(sc.buf) && sc.buf[sc.pos] == ',' {
			sc.pos++
			continue
		}
		if sc.pos < len(sc.buf) && sc.buf[sc.pos] == '}' {
			sc.pos++
			return nil
		}
		return sc.syntax("',' or '}' in an object")
	}
}

// duplicate reports whether key is among the keys of the object whose
// keys start at base.
func (sc *jsonScanner) duplicate(key []byte, base int, seen *map[string]struct{}) bool {
	own := sc.keys[base:]
	if len(own) < 16 {
		for _, k := range own {
			if bytes.Equal(k, key) {
				return true
			}
		}
		return false
	}
	if *seen == nil {
		*seen = make(map[string]struct{}, 2*len(own))
		for _, k := range own {
			(*seen)[string(k)] = struct{}{}
		}
	}
	if _, ok := (*seen)[string(key)]; ok {
		return true
	}
	(*seen)[string(key)] = struct{}{}
	return false
}

// name is key's JSON path, e.g. decision.id or primaryProducts[0].url.
func (sc *jsonScanner) name(key string) string {
	var b strings.Builder
	for _, seg := range sc.path {
		if seg.key == nil {
			b.WriteString("[" + strconv.Itoa(seg.index) + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.Write(seg.key)
	}
	if b.Len() > 0 {
		b.WriteByte('.')
	}
	b.WriteString(key)
	return strconv.Quote(b.String())
}

func (sc *jsonScanner) array(depth int) error {
	sc.pos++ // [
	sc.skipSpace()
	if sc.pos < len(sc.buf) && sc.buf[sc.pos] == ']' {
		sc.pos++
		return nil
	}
	sc.path = append(sc.path, pathSeg{})
	for i := 0; ; i++ {
		sc.path[len(sc.path)-1].index = i
		if err := sc.value(depth + 1); err != nil {
			return err
		}
		sc.skipSpace()
		if sc.pos < len(sc.buf) && sc.buf[sc.pos] == ',' {
			sc.pos++
			continue
		}
		if sc.pos < len(sc.buf) && sc.buf[sc.pos] == ']' {
			sc.pos++
			sc.path = sc.path[:len(sc.path)-1]
			return nil
		}
		return sc.syntax("',' or ']' in an array")
	}
}

// str reads a string and returns its content: the raw bytes, or, when it
// holds escapes and decode is set, the decoded text (so "a" and "\u0061"
// are the same key).
func (sc *jsonScanner) str(decode bool) ([]byte, error) {
	start := sc.pos
	escaped, err := sc.skipStr()
	if err != nil {
		return nil, err
	}
	if sc.measure {
		sc.strEnds = append(sc.strEnds, strEnd{start, sc.pos, escaped})
	}
	raw := sc.buf[start+1 : sc.pos-1]
	if !escaped || !decode {
		return raw, nil
	}
	var s string
	if err := json.Unmarshal(sc.buf[start:sc.pos], &s); err != nil {
		return nil, badf("malformed JSON at byte %d: bad escape in string", start)
	}
	return []byte(s), nil
}

// skipStr moves past the string that starts at sc.pos, checking its escapes
// and that its content is UTF-8 (outside strings, the grammar admits ASCII
// only, so a body checkJSON accepts is valid UTF-8), and reports whether it
// holds escapes. The walk keeps its index in a local: this loop is most of
// checkJSON's time.
func (sc *jsonScanner) skipStr() (escaped bool, err error) {
	buf, start := sc.buf, sc.pos
	i := start + 1 // "
	for {
		for i < len(buf) && plainStrByte(buf[i]) {
			i++
		}
		if i >= len(buf) {
			sc.pos = i
			return false, badf("malformed JSON: string from byte %d never ends", start)
		}
		switch c := buf[i]; {
		case c == '"':
			sc.pos = i + 1
			return escaped, nil
		case c == '\\':
			escaped = true
			sc.pos = i
			if err := sc.escape(); err != nil {
				return false, err
			}
			i = sc.pos
		case c < 0x20:
			sc.pos = i
			return false, badf("malformed JSON at byte %d: control character in string", i)
		default: // the first byte of a multi-byte sequence
			r, size := utf8.DecodeRune(buf[i:])
			if r == utf8.RuneError && size == 1 {
				sc.pos = i
				return false, errNotUTF8()
			}
			i += size
		}
	}
}

// plainStrByte reports whether c stands for itself in a string: not a quote,
// a backslash, a control character or part of a multi-byte sequence. A
// table lookup is faster here than the comparisons.
func plainStrByte(c byte) bool { return plainStrBytes[c] != 0 }

// plainStrBytes is plainStrByte's table, a byte per byte value.
const plainStrBytes = "" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" + // 00
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" + // 10
	"\x01\x01\x00\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" + // 20
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" + // 30
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" + // 40
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x00\x01\x01\x01" + // 50
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" + // 60
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" + // 70
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" + // 80
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" + // 90
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" + // a0
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" + // b0
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" + // c0
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" + // d0
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" + // e0
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" // f0

func (sc *jsonScanner) escape() error {
	sc.pos++ // backslash
	if sc.pos >= len(sc.buf) {
		return sc.syntax("an escape")
	}
	switch sc.buf[sc.pos] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		sc.pos++
		return nil
	case 'u':
		if sc.pos+5 > len(sc.buf) {
			return sc.syntax("four hex digits")
		}
		for _, h := range sc.buf[sc.pos+1 : sc.pos+5] {
			if !isHex(h) {
				return badf("malformed JSON at byte %d: want four hex digits after \\u", sc.pos)
			}
		}
		sc.pos += 5
		return nil
	}
	return badf("malformed JSON at byte %d: unknown escape", sc.pos)
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// number checks JSON's number grammar: -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?
func (sc *jsonScanner) number() error {
	start := sc.pos
	if sc.buf[sc.pos] == '-' {
		sc.pos++
	}
	switch {
	case sc.pos < len(sc.buf) && sc.buf[sc.pos] == '0':
		sc.pos++
	case sc.digits() == 0:
		return badf("malformed JSON at byte %d: bad number", start)
	}
	if sc.pos < len(sc.buf) && sc.buf[sc.pos] == '.' {
		sc.pos++
		if sc.digits() == 0 {
			return badf("malformed JSON at byte %d: bad number", start)
		}
	}
	if sc.pos < len(sc.buf) && (sc.buf[sc.pos] == 'e' || sc.buf[sc.pos] == 'E') {
		sc.pos++
		if sc.pos < len(sc.buf) && (sc.buf[sc.pos] == '+' || sc.buf[sc.pos] == '-') {
			sc.pos++
		}
		if sc.digits() == 0 {
			return badf("malformed JSON at byte %d: bad number", start)
		}
	}
	return nil
}

func (sc *jsonScanner) digits() int {
	n := 0
	for sc.pos < len(sc.buf) && sc.buf[sc.pos] >= '0' && sc.buf[sc.pos] <= '9' {
		sc.pos++
		n++
	}
	return n
}
