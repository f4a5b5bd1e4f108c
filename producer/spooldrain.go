package producer

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// DrainReport says what DrainFile did with a spool file.
type DrainReport struct {
	Entries     int  // webhooks found in the file
	Produced    int  // acknowledged by Kafka
	Quarantined int  // never producible: on the dead-letter topic or in the quarantine file
	Salvaged    bool // the file was damaged; entries were read from its pages
	// QuarantineFile is where quarantined entries went that the dead-letter
	// topic did not take.
	QuarantineFile string
}

// DrainFile sends every webhook in a spool file that is no receiver's spool
// any more (moved aside, perhaps damaged) to Kafka, in spool order, through
// the receiver's own mapping and encoding (opts as for New; Spool unused,
// no secrets needed).
// The file itself is not changed, so running it again sends duplicates,
// which dedupe removes. A damaged file is read page by page: whatever
// entries survive are sent, including, possibly, ones delivered before.
func DrainFile(ctx context.Context, path string, opts Options) (DrainReport, error) {
	rep := DrainReport{QuarantineFile: path + "." + QuarantineFile}
	entries, err := readSpoolFile(path)
	var damaged *DamagedSpoolError
	if errors.As(err, &damaged) {
		rep.Salvaged = true
		entries, err = salvage(path)
	}
	if err != nil {
		return rep, err
	}
	rep.Entries = len(entries)
	opts.Spool = nil
	s, err := newServer(opts, false)
	if err != nil {
		return rep, err
	}
	s.quarantinePath = rep.QuarantineFile
	if !opts.Schemas.Registered() {
		if err := opts.Schemas.Register(ctx, s.subjects()); err != nil {
			return rep, fmt.Errorf("registering schemas: %w", err)
		}
	}
	for batch := range slices.Chunk(entries, drainBatchSize) {
		if err := s.drainEntries(ctx, batch, &rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// drainEntries produces entries in order, a record budget at a time, and
// waits for every ack.
func (s *Server) drainEntries(ctx context.Context, entries []spoolEntry, rep *DrainReport) error {
	for len(entries) > 0 {
		results := s.publishEntries(entries)
		if err := s.drainAcked(ctx, entries[:len(results)], results, rep); err != nil {
			return err
		}
		entries = entries[len(results):]
	}
	return nil
}

func (s *Server) drainAcked(ctx context.Context, entries []spoolEntry, results []*acks, rep *DrainReport) error {
	for i, a := range results {
		err := a.wait(ctx)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if reason := permanent(err); reason != "" {
			if err = s.quarantine(ctx, entries[i], reason, err); err == nil {
				rep.Quarantined++
				continue
			}
		}
		if err != nil {
			return fmt.Errorf("spool entry %d: %w (%d of %d sent so far; running again sends them again, which dedupe removes)",
				entries[i].seq, err, rep.Produced, rep.Entries)
		}
		rep.Produced++
	}
	return nil
}

// readSpoolFile reads every entry of an intact spool file, oldest first.
func readSpoolFile(path string) ([]spoolEntry, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	db, err := openBolt(path, true)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var out []spoolEntry
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(spoolBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			out = append(out, decodeEntry(k, v))
			return nil
		})
	})
	return out, err
}

// salvage reads the entries left in a damaged spool file from its leaf
// pages, without bbolt (which cannot open it). Stale copies of pages may
// hold entries already delivered; each sequence number is kept once, from
// a copy that decodes when there is one.
func salvage(path string) ([]spoolEntry, error) {
	file, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pageSize := 4096
	if len(file) >= pageHeaderSize+metaSize {
		if m := readMeta(file); m.checksumOK {
			pageSize = int(m.pageSize)
		}
	}
	seen := map[uint64]int{} // seq → index in out
	var out []spoolEntry
	for off := 2 * pageSize; off+pageHeaderSize <= len(file); off += pageSize {
		page := file[off:]
		if binary.LittleEndian.Uint16(page[8:]) != leafPageFlag {
			continue
		}
		count := int(binary.LittleEndian.Uint16(page[10:]))
		for i := range count {
			e, ok := leafEntry(page, i)
			if !ok {
				continue
			}
			// A copy that decodes wins over one that does not.
			if at, dup := seen[e.seq]; !dup {
				seen[e.seq] = len(out)
				out = append(out, e)
			} else if out[at].err != nil && e.err == nil {
				out[at] = e
			}
		}
	}
	slices.SortFunc(out, func(a, b spoolEntry) int { return cmp.Compare(a.seq, b.seq) })
	return out, nil
}

// leafEntry reads element i of a leaf page: a spooled entry when its key
// is a sequence number and it lies wholly inside the file. An entry whose
// bytes no longer decode comes back with its error, to be quarantined and
// counted, never dropped.
func leafEntry(page []byte, i int) (spoolEntry, bool) {
	at := pageHeaderSize + i*leafElemSize
	if at+leafElemSize > len(page) {
		return spoolEntry{}, false
	}
	el := page[at:]
	flags := binary.LittleEndian.Uint32(el[0:])
	pos := int(binary.LittleEndian.Uint32(el[4:]))
	ksize := int(binary.LittleEndian.Uint32(el[8:]))
	vsize := int(binary.LittleEndian.Uint32(el[12:]))
	start := at + pos
	if flags&bucketLeafFlag != 0 || ksize != 8 || start < 0 || start+ksize+vsize > len(page) || vsize < 0 {
		return spoolEntry{}, false
	}
	return decodeEntry(page[start:start+ksize], page[start+ksize:start+ksize+vsize]), true
}
