package producer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// SpoolFile is the spool's bbolt database inside the spool dir.
const SpoolFile = "spool.db"

// DamagedSpoolError is a spool file that cannot be opened safely (truncated
// or overwritten). Nothing in it is lost: the message says how to start
// with a fresh spool and drain the old file.
type DamagedSpoolError struct {
	Path  string
	Cause error
}

func (e *DamagedSpoolError) Error() string {
	return fmt.Sprintf("spool: %s is damaged (%v). Move it aside (mv %s %s.damaged); the receiver then starts with a new, "+
		"empty spool. Then send what the old file holds to Kafka with `hookbridge spool drain --file %s.damaged`",
		e.Path, e.Cause, e.Path, e.Path, e.Path)
}

func (e *DamagedSpoolError) Unwrap() error { return e.Cause }

// openBolt opens a spool file after checking that it is whole. bbolt trusts
// its file: a truncated one makes it panic or fault on the missing pages,
// so the checks come first and any panic left is turned into an error.
func openBolt(path string, readOnly bool) (db *bolt.DB, err error) {
	if err := checkBoltFile(path); err != nil {
		return nil, &DamagedSpoolError{Path: path, Cause: err}
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, &DamagedSpoolError{Path: path, Cause: fmt.Errorf("reading it failed: %v", r)}
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, ReadOnly: readOnly})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("spool: %s is locked by another process (is another receiver using this spool dir?)", path)
	case err != nil:
		return nil, &DamagedSpoolError{Path: path, Cause: err}
	}
	if err := db.View(checkTx); err != nil {
		db.Close()
		return nil, &DamagedSpoolError{Path: path, Cause: err}
	}
	return db, nil
}

// checkTx runs bbolt's consistency check of every page.
func checkTx(tx *bolt.Tx) error {
	var errs []error
	for err := range tx.Check() {
		errs = append(errs, err)
		if len(errs) == 3 {
			break
		}
	}
	return errors.Join(errs...)
}

// bbolt's on-disk layout, as far as checkBoltFile and salvage read it: a
// page header (id, flags, count, overflow) and, in pages 0 and 1, a meta
// whose fields end in an FNV-64a checksum of those before it.
const (
	boltMagic      = 0xED0CDAED
	pageHeaderSize = 16
	metaSize       = 64
	leafPageFlag   = 0x02
	leafElemSize   = 16
	bucketLeafFlag = 0x01
)

type boltMeta struct {
	pageSize   uint32
	pages      uint64 // the high-water mark: the file holds at least this many pages
	txid       uint64
	checksumOK bool
}

func readMeta(b []byte) boltMeta {
	m := b[pageHeaderSize:]
	meta := boltMeta{
		pageSize: binary.LittleEndian.Uint32(m[8:]),
		pages:    binary.LittleEndian.Uint64(m[40:]),
		txid:     binary.LittleEndian.Uint64(m[48:]),
	}
	h := fnv.New64a()
	h.Write(m[:56])
	meta.checksumOK = binary.LittleEndian.Uint32(m[0:]) == boltMagic && h.Sum64() == binary.LittleEndian.Uint64(m[56:])
	return meta
}

// checkBoltFile finds a valid meta page and checks that the file is as
// long as it says. A missing or empty file is fine: bbolt creates it.
func checkBoltFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return err
	}
	head := make([]byte, pageHeaderSize+metaSize)
	if _, err := io.ReadFull(f, head); err != nil {
		return fmt.Errorf("%d bytes is too short for a spool file", st.Size())
	}
	first := readMeta(head)
	best := first
	if first.pageSize >= 512 && first.pageSize <= 1<<16 {
		if _, err := f.ReadAt(head, int64(first.pageSize)); err == nil {
			if second := readMeta(head); second.checksumOK && (!best.checksumOK || second.txid > best.txid) {
				best = second
			}
		}
	}
	if !best.checksumOK {
		return errors.New("no valid bbolt meta page: this is not a spool file, or its start was overwritten")
	}
	if want := int64(best.pages) * int64(best.pageSize); st.Size() < want {
		return fmt.Errorf("the file is %d bytes but its last transaction needs %d: it was truncated", st.Size(), want)
	}
	return nil
}
