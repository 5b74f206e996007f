package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"

	"google.golang.org/protobuf/proto"
)

// A framed checkpoint is a header then the payload:
//
//	magic   4 bytes  0x00 'A' 'C' 'P'
//	version 1 byte   1
//	length  4 bytes  big-endian, the payload's length
//	crc     4 bytes  big-endian CRC-32C (Castagnoli) of the payload
//
// so that a reader tells a checkpoint that was torn (shorter than its
// length says, or longer) or garbled (its checksum does not match) from a
// valid one, instead of taking whatever a damaged protobuf happens to parse
// as. The magic starts with a zero byte, which no protobuf message starts
// with (field number 0 does not exist): a file without it is an unframed
// checkpoint an older agent wrote, read as plain protobuf.
const (
	frameVersion = 1
	headerSize   = 4 + 1 + 4 + 4
	// MaxPayload bounds what a reader accepts: Agora's checkpoints are
	// kilobytes; a length beyond this is a garbled header, not a reason to
	// allocate.
	MaxPayload = 64 << 20
)

var magic = [4]byte{0x00, 'A', 'C', 'P'}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrDamaged is wrapped by every error about a checkpoint that is there
// but cannot be trusted: torn, garbled, of an unknown version, or not the
// message it should hold.
var ErrDamaged = errors.New("checkpoint torn or garbled")

// Frame returns payload behind a header (see above).
func Frame(payload []byte) []byte {
	b := make([]byte, headerSize, headerSize+len(payload))
	copy(b, magic[:])
	b[4] = frameVersion
	binary.BigEndian.PutUint32(b[5:9], uint32(len(payload)))
	binary.BigEndian.PutUint32(b[9:13], crc32.Checksum(payload, castagnoli))
	return append(b, payload...)
}

// Unframe returns the payload of a framed checkpoint. framed is false for
// content without the magic (an unframed checkpoint of an older agent,
// returned whole: only its own decoding can tell whether it is intact). An
// error wraps ErrDamaged.
func Unframe(b []byte) (payload []byte, framed bool, err error) {
	if len(b) == 0 || b[0] != magic[0] {
		if len(b) >= len(magic) && [3]byte(b[1:4]) == [3]byte(magic[1:]) {
			// A frame whose first byte flipped, not a protobuf.
			return nil, true, fmt.Errorf("%w: bad magic %x", ErrDamaged, b[:4])
		}
		return b, false, nil
	}
	if len(b) < headerSize {
		return nil, true, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrDamaged, len(b), headerSize)
	}
	if [4]byte(b[:4]) != magic {
		return nil, true, fmt.Errorf("%w: bad magic %x", ErrDamaged, b[:4])
	}
	if b[4] != frameVersion {
		return nil, true, fmt.Errorf("%w: version %d, this agent reads version %d", ErrDamaged, b[4], frameVersion)
	}
	n := binary.BigEndian.Uint32(b[5:9])
	if n > MaxPayload {
		return nil, true, fmt.Errorf("%w: header says %d bytes, more than the %d a checkpoint may hold", ErrDamaged, n, MaxPayload)
	}
	payload = b[headerSize:]
	if uint64(len(payload)) != uint64(n) {
		return nil, true, fmt.Errorf("%w: %d bytes of payload, the header says %d", ErrDamaged, len(payload), n)
	}
	if sum := crc32.Checksum(payload, castagnoli); sum != binary.BigEndian.Uint32(b[9:13]) {
		return nil, true, fmt.Errorf("%w: checksum %08x, the header says %08x", ErrDamaged, sum, binary.BigEndian.Uint32(b[9:13]))
	}
	return payload, true, nil
}

// MarshalMessage returns m, framed, as WriteFile should write it.
func MarshalMessage(m proto.Message) ([]byte, error) {
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, err
	}
	return Frame(b), nil
}

// UnmarshalMessage decodes a framed checkpoint, or an unframed one an older
// agent wrote, into m. An error wraps ErrDamaged. An empty content is
// damaged too: no writer writes one (even an empty message has its frame).
func UnmarshalMessage(b []byte, m proto.Message) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: the file is empty", ErrDamaged)
	}
	payload, framed, err := Unframe(b)
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(payload, m); err != nil {
		if framed {
			return fmt.Errorf("%w: its checksum matches but it does not decode (written by another program?): %v", ErrDamaged, err)
		}
		return fmt.Errorf("%w: no frame, and not a protobuf an older agent wrote: %v", ErrDamaged, err)
	}
	return nil
}

// ReadMessage reads the checkpoint at path into m. It tells apart a
// checkpoint that is absent (the error wraps fs.ErrNotExist), one that is
// there but damaged (ErrDamaged) and a valid one (nil); any other error is
// the disk's.
func ReadMessage(path string, m proto.Message) error {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("checkpoint %s: %w", path, err)
		}
		return fmt.Errorf("read checkpoint %s: %w", path, err)
	}
	if err := UnmarshalMessage(b, m); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return nil
}
