package dedupe

// seenSet remembers the event ids of one input partition for a window of
// record time.
//
// Ids are stored as 64-bit hashes mapped to the record timestamp (ms) of
// the occurrence that was emitted: 16 bytes of key and value per id plus
// the map's own overhead, whatever the id's length. Time is "stream time",
// the newest record timestamp the partition has seen, as in Kafka Streams,
// so a replay of old records judges them by their own clock and not by the
// wall clock.
type seenSet struct {
	ids    map[uint64]int64
	window int64 // ms
	max    int

	stream    int64 // newest record timestamp seen (ms)
	nextSweep int64 // stream time of the next expiry sweep
	// forgotten counts ids dropped before their window ended because the
	// set was full.
	forgotten int
}

func newSeenSet(windowMs int64, maxIDs int) *seenSet {
	return &seenSet{ids: make(map[uint64]int64), window: windowMs, max: maxIDs}
}

// duplicate reports whether h was emitted within the window before ts.
func (s *seenSet) duplicate(h uint64, ts int64) bool {
	at, ok := s.ids[h]
	return ok && ts-at <= s.window
}

// add remembers that h was emitted at ts. Only call it once the
// transaction that emitted h committed.
func (s *seenSet) add(h uint64, ts int64) {
	s.ids[h] = ts
	s.advance(ts)
	if len(s.ids) > s.max {
		s.forgetOldest()
	}
}

// advance moves stream time and, every eighth of a window, drops the ids
// that have left it: an id stays remembered for at least one window and
// at most 1⅛ windows of stream time.
func (s *seenSet) advance(ts int64) {
	if ts > s.stream {
		s.stream = ts
	}
	if s.stream < s.nextSweep {
		return
	}
	cutoff := s.stream - s.window
	for h, at := range s.ids {
		if at < cutoff {
			delete(s.ids, h)
		}
	}
	s.nextSweep = s.stream + max(s.window/8, 1)
}

// forgetOldest frees a tenth of the set, oldest ids first. It finds the
// cut-off timestamp from a histogram rather than sorting, so it costs two
// passes over the map once per max/10 additions.
func (s *seenSet) forgetOldest() {
	target := len(s.ids) - s.max*9/10
	if target <= 0 {
		return
	}
	lo, hi := int64(1<<63-1), int64(-1<<63)
	for _, at := range s.ids {
		lo, hi = min(lo, at), max(hi, at)
	}
	const buckets = 256
	width := (hi-lo)/buckets + 1
	var hist [buckets]int
	for _, at := range s.ids {
		hist[(at-lo)/width]++
	}
	cut, n := lo, 0
	for i := range hist {
		n += hist[i]
		cut = lo + int64(i+1)*width
		if n >= target {
			break
		}
	}
	for h, at := range s.ids {
		if at < cut {
			delete(s.ids, h)
			s.forgotten++
		}
	}
}

func (s *seenSet) len() int { return len(s.ids) }
