package checkpoint

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

func sampleCheckpoint() *messages.TaskCheckpoint {
	return &messages.TaskCheckpoint{
		Run: &messages.RunTask{
			Task:      &messages.TaskInfo{Name: "t", TaskId: &messages.TaskID{Value: "t1"}, Command: &messages.CommandInfo{Value: "sleep 600", Shell: true}},
			Framework: &messages.FrameworkInfo{Id: &messages.FrameworkID{Value: "m-F1"}, Name: "fw"},
		},
		State: messages.TaskState_TASK_RUNNING, Pid: 4242, StartTime: 123456789,
	}
}

// ReadMessage tells an absent checkpoint, a damaged one and a valid one
// apart, and reads the unframed checkpoints older agents wrote.
func TestReadMessageTellsAbsentDamagedAndValidApart(t *testing.T) {
	dir := t.TempDir()
	want := sampleCheckpoint()
	framed, err := MarshalMessage(want)
	if err != nil {
		t.Fatal(err)
	}
	legacy, _ := proto.Marshal(want)
	for _, tc := range []struct {
		name    string
		content []byte // nil: no file
		absent  bool
		damaged bool
	}{
		{name: "absent", absent: true},
		{name: "framed", content: framed},
		{name: "unframed, from an older agent", content: legacy},
		{name: "empty", content: []byte{}, damaged: true},
		{name: "torn", content: framed[:len(framed)/2], damaged: true},
		{name: "torn header", content: framed[:7], damaged: true},
		{name: "longer than its header says", content: append(append([]byte{}, framed...), 0), damaged: true},
		{name: "garbled", content: bytes.Repeat([]byte{0xff}, len(framed)), damaged: true},
		{name: "unframed and torn", content: legacy[:len(legacy)-3], damaged: true},
		{name: "future version", content: append(append(append([]byte{}, framed[:4]...), 9), framed[5:]...), damaged: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			if tc.content != nil {
				if err := os.WriteFile(path, tc.content, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got := &messages.TaskCheckpoint{}
			err := ReadMessage(path, got)
			switch {
			case tc.absent:
				if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrDamaged) {
					t.Fatalf("err = %v, want absent", err)
				}
			case tc.damaged:
				if !errors.Is(err, ErrDamaged) || errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("err = %v, want damaged", err)
				}
			default:
				if err != nil || !proto.Equal(got, want) {
					t.Fatalf("got %v, %v; want %v", got, err, want)
				}
			}
		})
	}
}

// Every single-bit flip of a framed checkpoint is detected (CRC-32C
// catches any in the payload; the header's fields are checked one by
// one), and every truncation.
func TestEveryBitFlipAndTruncationIsDetected(t *testing.T) {
	framed, err := MarshalMessage(sampleCheckpoint())
	if err != nil {
		t.Fatal(err)
	}
	for i := range framed {
		for bit := range 8 {
			b := append([]byte{}, framed...)
			b[i] ^= 1 << bit
			if err := UnmarshalMessage(b, &messages.TaskCheckpoint{}); !errors.Is(err, ErrDamaged) {
				t.Fatalf("flipping bit %d of byte %d: err = %v, want damaged", bit, i, err)
			}
		}
	}
	for n := range len(framed) {
		if err := UnmarshalMessage(framed[:n], &messages.TaskCheckpoint{}); !errors.Is(err, ErrDamaged) {
			t.Fatalf("truncated to %d bytes: err = %v, want damaged", n, err)
		}
	}
}

// FuzzUnmarshalMessage: the decoder never panics nor allocates by what a
// header claims; what it accepts as framed is exactly Frame of its payload,
// and a valid checkpoint survives the round trip.
func FuzzUnmarshalMessage(f *testing.F) {
	framed, _ := MarshalMessage(sampleCheckpoint())
	legacy, _ := proto.Marshal(sampleCheckpoint())
	for _, seed := range [][]byte{framed, legacy, framed[:len(framed)/2], nil, []byte("garbage"), Frame(nil),
		{0x00, 'A', 'C', 'P', 1, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, {0x08, 'A', 'C', 'P'}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cp := &messages.TaskCheckpoint{}
		err := UnmarshalMessage(b, cp)
		payload, framedIn, ferr := Unframe(b)
		if err != nil {
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("error %v does not say the checkpoint is damaged", err)
			}
			return
		}
		if ferr != nil {
			t.Fatalf("UnmarshalMessage accepted what Unframe refuses: %v", ferr)
		}
		if framedIn && !bytes.Equal(Frame(payload), b) {
			t.Fatalf("accepted a frame that is not Frame of its payload: %x", b)
		}
		again, err := MarshalMessage(cp)
		if err != nil {
			t.Fatal(err)
		}
		back := &messages.TaskCheckpoint{}
		if err := UnmarshalMessage(again, back); err != nil || !proto.Equal(back, cp) {
			t.Fatalf("round trip: %v, %v != %v", err, back, cp)
		}
	})
}
