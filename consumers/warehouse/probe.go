package warehouse

import (
	"cmp"
	"context"
	"math"
	"slices"
	"time"
)

// unscanned is a processor's scanUntil before its first probe: the first
// probe always lists.
const unscanned = math.MaxInt64

// storedFile is a file of the processor's partition that a listing found.
type storedFile struct {
	key   string
	first int64
	// What the store said about it, once asked: a published file is never
	// replaced, so each of the hour's files is asked about once.
	st              Stored
	exists, statted bool
}

// probe looks for the stored file of key that holds offset off, the first
// record of key the epoch reads, and returns that file's key and horizon
// ("" when there is none).
//
// A processor that starts at an offset an earlier writer committed starts
// where that writer's epoch began, so the file it looks for, if any, is
// the one named by off (name), and probing that name is enough. An offset
// moved by a replay (to a time, to an offset, to earliest after retention
// trimmed the log) can be inside an epoch, where a stored file starts
// before off and holds it. So the processor's first probe lists the hour's
// files instead (cover); when one holds off, the processor started inside
// that file's epoch, and every probe up to its horizon lists too (each
// hour once), since the epoch's other files may start before off as well.
// Past the horizons of the files found that way, the epochs the processor
// meets start where its own do, and names are enough again.
func (p *processor) probe(ctx context.Context, key fileKey, hour time.Time, name string, off int64) (string, int64, error) {
	if off > p.scanUntil {
		p.listed = nil
		st, exists, err := p.stat(ctx, name)
		if err != nil || !exists {
			return "", 0, err
		}
		return name, st.Horizon, nil
	}
	stored, h, inside, err := p.cover(ctx, key, hour, off)
	if err != nil {
		return "", 0, err
	}
	if p.scanUntil == unscanned {
		p.scanUntil = -1
	}
	p.scanUntil = max(p.scanUntil, inside)
	return stored, h, nil
}

// cover lists key's hour and returns the stored file of key that holds
// offset off, with its horizon, if there is one. inside is the furthest
// horizon of the files of any schema there that hold off (-1 for none):
// the epoch off is in reaches that far, even where a file of key's schema
// is missing (a writer that died publishing its epoch).
func (p *processor) cover(ctx context.Context, key fileKey, hour time.Time, off int64) (stored string, h, inside int64, err error) {
	dir := p.g.layout.Dir(p.pc.Topic, hour)
	files, ok := p.listed[dir]
	if !ok {
		var keys []string
		err := retry(ctx, p.log, "listing the store", func() error {
			var err error
			keys, err = p.g.opts.Store.List(ctx, dir)
			return err
		})
		if err != nil {
			return "", 0, -1, err
		}
		files = p.partitionFiles(keys)
		if p.listed == nil {
			p.listed = make(map[string][]storedFile)
		}
		p.listed[dir] = files
	}
	// Files come latest first. The files of one partition and hour hold
	// offset ranges that follow each other (one per epoch and schema), so
	// once a file that starts before off ends before it too, so do all
	// earlier ones.
	inside = -1
	for i := range files {
		f := &files[i]
		if f.first > off {
			continue
		}
		if !f.statted {
			st, exists, err := p.stat(ctx, f.key)
			if err != nil {
				return "", 0, -1, err
			}
			f.st, f.exists, f.statted = st, exists, true
		}
		switch {
		case !f.exists: // gone since the listing
		case f.st.Horizon < off:
			return "", 0, inside, nil
		case f.st.Schema == key.schema:
			return f.key, f.st.Horizon, max(inside, f.st.Horizon), nil
		default:
			inside = max(inside, f.st.Horizon)
		}
	}
	return "", 0, inside, nil
}

// partitionFiles picks the processor's partition's files out of keys,
// latest first offset first.
func (p *processor) partitionFiles(keys []string) []storedFile {
	var files []storedFile
	prefix := filePrefix(p.pc.Topic, p.pc.Partition)
	for _, k := range keys {
		if first, ok := firstOffset(k, prefix); ok {
			files = append(files, storedFile{key: k, first: first})
		}
	}
	slices.SortFunc(files, func(a, b storedFile) int { return cmp.Compare(b.first, a.first) })
	return files
}

// stat asks the store about key, retrying while it cannot answer.
func (p *processor) stat(ctx context.Context, key string) (Stored, bool, error) {
	var (
		st     Stored
		exists bool
	)
	err := retry(ctx, p.log, "probing the store", func() error {
		var err error
		st, exists, err = p.g.opts.Store.Stat(ctx, key)
		return err
	})
	return st, exists, err
}
