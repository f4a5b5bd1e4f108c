package producer

import (
	"bytes"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	json "github.com/goccy/go-json"
)

// The fast readers' primitives (decodeJSONFast): each reads one value of
// a body checkJSON has accepted, so syntax is known good, and reports
// false, having read nothing it keeps, at a value of another kind.

// readFast runs fast over body with a pooled scanner, and leaves v zero
// when fast gives up. Either way it returns body as a string (raw_json),
// made in the scanner's text buffer with room after it: the strings read
// are parts of it, and the text of those with escapes follows it, so a
// body's strings are one allocation.
func readFast[T any](body []byte, v *T, fast func(*jsonScanner, *T) bool) (text string, ok bool) {
	sc := scannerFor(body)
	defer sc.release()
	return readWith(sc, v, fast)
}

// checkRead checks body as checkBody does and, if it passes, reads it as
// readFast does, with one scanner: the check measures the strings, and the
// fast reader jumps over them.
func checkRead[T any](body []byte, v *T, fast func(*jsonScanner, *T) bool) (text string, ok bool, err error) {
	sc := scannerFor(body)
	defer sc.release()
	sc.measure = true
	if err := sc.checkBody(); err != nil {
		return "", false, err
	}
	sc.measure, sc.pos = false, 0
	text, ok = readWith(sc, v, fast)
	return text, ok, nil
}

// readWith is readFast with sc.
func readWith[T any](sc *jsonScanner, v *T, fast func(*jsonScanner, *T) bool) (text string, ok bool) {
	sc.unesc.Grow(len(sc.buf) + len(sc.buf)/8)
	sc.unesc.Write(sc.buf)
	sc.text = sc.unesc.String()
	if !fast(sc, v) {
		*v = *new(T)
		return sc.text, false
	}
	return sc.text, true
}

// fields reads an object, calling read(i) at the value of each key that is
// names[i]; others are skipped. It reports false at a key with escapes or
// one that matches a name only case-insensitively (go-json and
// encoding/json would take it for that field).
func (sc *jsonScanner) fields(names []string, read func(i int) bool) bool {
	sc.skipSpace()
	if sc.pos >= len(sc.buf) || sc.buf[sc.pos] != '{' {
		return false
	}
	sc.pos++
	for {
		sc.skipSpace()
		if sc.pos >= len(sc.buf) {
			return false
		}
		switch sc.buf[sc.pos] {
		case '}':
			sc.pos++
			return true
		case ',':
			sc.pos++
			continue
		}
		if sc.buf[sc.pos] != '"' {
			return false
		}
		start := sc.pos
		escaped, err := sc.jumpStr()
		if err != nil || escaped {
			return false
		}
		key := sc.buf[start+1 : sc.pos-1]
		sc.skipSpace()
		if sc.pos >= len(sc.buf) || sc.buf[sc.pos] != ':' {
			return false
		}
		sc.pos++
		i := fieldIndex(names, key)
		switch {
		case i >= 0:
			if !read(i) {
				return false
			}
		case i == foldedField:
			return false
		default:
			if sc.value(0) != nil {
				return false
			}
		}
	}
}

// foldedField is fieldIndex's answer for a key that is a name but for case.
const foldedField = -2

func fieldIndex(names []string, key []byte) int {
	for i, n := range names {
		if string(key) == n {
			return i
		}
	}
	for _, n := range names {
		if strings.EqualFold(string(key), n) {
			return foldedField
		}
	}
	return -1
}

// null reads a null if one is next.
func (sc *jsonScanner) null() bool {
	sc.skipSpace()
	if bytes.HasPrefix(sc.buf[sc.pos:], []byte("null")) {
		sc.pos += 4
		return true
	}
	return false
}

func (sc *jsonScanner) next() byte {
	sc.skipSpace()
	if sc.pos >= len(sc.buf) {
		return 0
	}
	return sc.buf[sc.pos]
}

// strValue reads a string, or null as nil.
func (sc *jsonScanner) strValue(dst **string) bool {
	if sc.null() {
		*dst = nil
		return true
	}
	if sc.next() != '"' {
		return false
	}
	s, ok := sc.strText()
	if !ok {
		return false
	}
	*dst = sc.keep(s)
	return true
}

// strText reads a string: a part of text when it has no escapes.
func (sc *jsonScanner) strText() (string, bool) {
	start := sc.pos
	escaped, err := sc.jumpStr()
	switch {
	case err != nil:
		return "", false
	case escaped:
		return sc.unescape(sc.buf[start+1 : sc.pos-1]), true
	}
	return sc.text[start+1 : sc.pos-1], true
}

// jumpStr is skipStr for a second pass: over a string the check measured
// it jumps. (Strings in values the reader skips are scanned, and passed
// here.)
func (sc *jsonScanner) jumpStr() (escaped bool, err error) {
	k := sc.nextEnd
	for k < len(sc.strEnds) && sc.strEnds[k].start < sc.pos {
		k++
	}
	if k < len(sc.strEnds) && sc.strEnds[k].start == sc.pos {
		sc.nextEnd, sc.pos = k+1, sc.strEnds[k].end
		sc.jumps++
		return sc.strEnds[k].escaped, nil
	}
	sc.nextEnd = k
	return sc.skipStr()
}

// unescape decodes the escapes of a string's content the scanner has
// checked, as encoding/json does: a lone or broken surrogate is U+FFFD.
// The texts of a body share a buffer (sc.unesc, after the body itself):
// a text is never longer than raw, so it never grows while one is
// written, and a new one is started, not grown, when raw might not fit
// (the strings made keep the old).
func (sc *jsonScanner) unescape(raw []byte) string {
	out := &sc.unesc
	if out.Cap()-out.Len() < len(raw) {
		*out = strings.Builder{}
		out.Grow(max(len(raw), len(sc.buf)/8))
	}
	start := out.Len()
	for i := 0; i < len(raw); {
		if run := bytes.IndexByte(raw[i:], '\\'); run != 0 {
			if run < 0 {
				run = len(raw) - i
			}
			out.Write(raw[i : i+run])
			i += run
			continue
		}
		switch e := raw[i+1]; e {
		case 'u':
			r := hex4(raw[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					r2 = hex4(raw[i+2 : i+6])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			out.WriteRune(r)
			continue
		case 'b':
			out.WriteByte('\b')
		case 'f':
			out.WriteByte('\f')
		case 'n':
			out.WriteByte('\n')
		case 'r':
			out.WriteByte('\r')
		case 't':
			out.WriteByte('\t')
		default: // " \\ /
			out.WriteByte(e)
		}
		i += 2
	}
	return out.String()[start:]
}

func hex4(h []byte) rune {
	var r rune
	for _, c := range h {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// keep returns a pointer to a copy of s, one of a few allocated together
// (a body's strings would otherwise cost two allocations each). Numbers,
// strings underneath, are kept with them.
func (sc *jsonScanner) keep(s string) *string {
	if len(sc.strs) == cap(sc.strs) {
		sc.strs = sc.newSlab(0) // the old pointers stay valid
	}
	sc.strs = append(sc.strs, s)
	return &sc.strs[len(sc.strs)-1]
}

// newSlab makes a string slab with room for n and more: a body holds a
// value in about every 40 bytes.
func (sc *jsonScanner) newSlab(n int) []string {
	return make([]string, 0, max(2*n, 16, min(len(sc.buf)/32, 128)))
}

// numberValue reads a number, or null as nil.
func (sc *jsonScanner) numberValue(dst **json.Number) bool {
	if sc.null() {
		*dst = nil
		return true
	}
	if c := sc.next(); c != '-' && (c < '0' || c > '9') {
		return false
	}
	start := sc.pos
	if sc.number() != nil {
		return false
	}
	*dst = (*json.Number)(sc.keep(sc.text[start:sc.pos]))
	return true
}

// objectInto reads an object with read, or null as nil, into room(): a
// reader allocates a body's objects together.
func objectInto[T any](sc *jsonScanner, dst **T, room func() *T, read func(*jsonScanner, *T) bool) bool {
	if sc.null() {
		*dst = nil
		return true
	}
	if sc.next() != '{' {
		return false
	}
	t := room()
	*dst = t
	return read(sc, t)
}

// strFields reads an object of strings (or nulls): names[i] into dsts[i].
func (sc *jsonScanner) strFields(names []string, dsts ...**string) bool {
	return sc.fields(names, func(i int) bool { return sc.strValue(dsts[i]) })
}

// boolValue reads true or false, or null as nil.
func (sc *jsonScanner) boolValue(dst **bool) bool {
	if sc.null() {
		*dst = nil
		return true
	}
	for _, lit := range [...]string{"false", "true"} {
		if bytes.HasPrefix(sc.buf[sc.pos:], []byte(lit)) {
			sc.pos += len(lit)
			if len(sc.bools) == cap(sc.bools) {
				sc.bools = make([]bool, 0, 8) // as keep does for strings
			}
			sc.bools = append(sc.bools, lit == "true")
			*dst = &sc.bools[len(sc.bools)-1]
			return true
		}
	}
	return false
}

// arrayValue reads an array with read for each element, or null as nil;
// read reports false at an element of another kind.
func arrayValue[T any](sc *jsonScanner, dst *[]T, read func(*jsonScanner, *T) bool) bool {
	if sc.null() {
		*dst = nil
		return true
	}
	if sc.next() != '[' {
		return false
	}
	sc.pos++
	out := []T{}
	for {
		switch sc.next() {
		case ']':
			sc.pos++
			*dst = out
			return true
		case ',':
			sc.pos++
		default:
			if cap(out) == 0 {
				out = make([]T, 0, 4) // a body's arrays are short: one allocation, not three
			}
			var zero T
			out = append(out, zero)
			if !read(sc, &out[len(out)-1]) {
				return false
			}
		}
	}
}

// stringsValue reads an array of strings, or null as nil, as a run of the
// string slab (see keep), not an allocation of its own.
func (sc *jsonScanner) stringsValue(dst *[]string) bool {
	if sc.null() {
		*dst = nil
		return true
	}
	if sc.next() != '[' {
		return false
	}
	sc.pos++
	first := len(sc.strs)
	for {
		switch sc.next() {
		case ']':
			sc.pos++
			*dst = []string{}
			if end := len(sc.strs); end > first {
				*dst = sc.strs[first:end:end] // full, so an append copies
			}
			return true
		case ',':
			sc.pos++
		case '"':
			s, ok := sc.strText()
			if !ok {
				return false
			}
			if len(sc.strs) == cap(sc.strs) { // a new slab, starting with the run so far
				run := sc.strs[first:]
				sc.strs, first = append(sc.newSlab(len(run)), run...), 0
			}
			sc.strs = append(sc.strs, s)
		default:
			return false
		}
	}
}

// objectElem reads an array's object element with read.
func objectElem[T any](read func(*jsonScanner, *T) bool) func(*jsonScanner, *T) bool {
	return func(sc *jsonScanner, t *T) bool { return sc.next() == '{' && read(sc, t) }
}
