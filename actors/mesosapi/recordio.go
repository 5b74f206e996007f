package mesosapi

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// RecordIO is Mesos' framing of a stream of messages: each record is its
// length in bytes as ASCII decimal, a newline, then the bytes.
//
//	12\n{"type":"x"}

// ErrRecordTooLarge is a record longer than the reader allows.
var ErrRecordTooLarge = errors.New("recordio: record larger than allowed")

// AppendRecord appends one record holding msg to buf.
func AppendRecord(buf, msg []byte) []byte {
	buf = strconv.AppendInt(buf, int64(len(msg)), 10)
	buf = append(buf, '\n')
	return append(buf, msg...)
}

// RecordReader reads records, each at most max bytes.
type RecordReader struct {
	r   *bufio.Reader
	max int
}

// NewRecordReader reads records from r, refusing any larger than max.
func NewRecordReader(r io.Reader, max int) *RecordReader {
	return &RecordReader{r: bufio.NewReader(r), max: max}
}

// maxLengthDigits bounds the length prefix, so a stream of digits cannot
// make the reader buffer without end.
const maxLengthDigits = 19

// Next reads the next record: io.EOF at a clean end of the stream,
// io.ErrUnexpectedEOF inside a record, another error for malformed input.
func (rr *RecordReader) Next() ([]byte, error) {
	n, digits := 0, 0
	for {
		c, err := rr.r.ReadByte()
		if err != nil {
			if err == io.EOF && digits > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if c == '\n' {
			break
		}
		if c < '0' || c > '9' {
			return nil, fmt.Errorf("recordio: length prefix has %q; want decimal digits then a newline", c)
		}
		if digits++; digits > maxLengthDigits {
			return nil, fmt.Errorf("recordio: length prefix longer than %d digits", maxLengthDigits)
		}
		n = n*10 + int(c-'0')
		if n > rr.max {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrRecordTooLarge, rr.max)
		}
	}
	if digits == 0 {
		return nil, errors.New("recordio: empty length prefix")
	}
	rec := make([]byte, n)
	if _, err := io.ReadFull(rr.r, rec); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return rec, nil
}
