// Package avrobin reads the primitives of Avro's binary encoding
// (https://avro.apache.org/docs/1.12.0/specification/#binary-encoding) for
// decoders compiled from a writer's schema, which read values straight
// into their own structures instead of goavro's native maps. It never
// allocates: strings and bytes are slices of the input.
package avrobin

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrShort is returned when the input ends inside a value.
var ErrShort = errors.New("avro: input ends inside a value")

// Reader reads values from Buf in order.
type Reader struct {
	Buf []byte
	Pos int
}

// Done reports whether every byte was read.
func (r *Reader) Done() bool { return r.Pos == len(r.Buf) }

// Long reads a zig-zag varint long.
func (r *Reader) Long() (int64, error) {
	u, n := binary.Uvarint(r.Buf[r.Pos:])
	if n <= 0 {
		if n == 0 {
			return 0, ErrShort
		}
		return 0, errors.New("avro: long longer than 64 bits")
	}
	r.Pos += n
	return int64(u>>1) ^ -int64(u&1), nil
}

// Int reads a zig-zag varint int.
func (r *Reader) Int() (int32, error) {
	n, err := r.Long()
	if err != nil {
		return 0, err
	}
	if n < math.MinInt32 || n > math.MaxInt32 {
		return 0, fmt.Errorf("avro: int %d out of range", n)
	}
	return int32(n), nil
}

// Boolean reads one byte, 0 or 1.
func (r *Reader) Boolean() (bool, error) {
	if r.Pos >= len(r.Buf) {
		return false, ErrShort
	}
	b := r.Buf[r.Pos]
	r.Pos++
	if b > 1 {
		return false, fmt.Errorf("avro: boolean byte %d", b)
	}
	return b == 1, nil
}

// Float reads a little-endian IEEE 754 float.
func (r *Reader) Float() (float32, error) {
	if len(r.Buf)-r.Pos < 4 {
		return 0, ErrShort
	}
	v := math.Float32frombits(binary.LittleEndian.Uint32(r.Buf[r.Pos:]))
	r.Pos += 4
	return v, nil
}

// Double reads a little-endian IEEE 754 double.
func (r *Reader) Double() (float64, error) {
	if len(r.Buf)-r.Pos < 8 {
		return 0, ErrShort
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.Buf[r.Pos:]))
	r.Pos += 8
	return v, nil
}

// Bytes reads a length-prefixed byte string (bytes and string); the
// result is a slice of Buf.
func (r *Reader) Bytes() ([]byte, error) {
	n, err := r.Long()
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("avro: negative length %d", n)
	}
	if int64(len(r.Buf)-r.Pos) < n {
		return nil, ErrShort
	}
	b := r.Buf[r.Pos : r.Pos+int(n) : r.Pos+int(n)]
	r.Pos += int(n)
	return b, nil
}

// BlockCount reads the item count that starts a block of an array or
// map; 0 ends the value. A negative count is followed by the block's
// size in bytes, which this reader does not need.
func (r *Reader) BlockCount() (int64, error) {
	n, err := r.Long()
	if err != nil || n >= 0 {
		return n, err
	}
	if n == math.MinInt64 {
		return 0, errors.New("avro: block count out of range")
	}
	if _, err := r.Long(); err != nil {
		return 0, err
	}
	return -n, nil
}
