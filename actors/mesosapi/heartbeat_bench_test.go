package mesosapi

import (
	"syscall"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
)

// BenchmarkHeartbeat is the master's side of one HTTP framework's
// heartbeat past the core's timer: the bridge actor takes the master's
// FrameworkHeartbeat, encodes a HEARTBEAT event, frames it in RecordIO
// and writes and flushes it on the subscription's HTTP stream; the op
// ends when the client has read it. cpu-us/heartbeat is the process's
// user+system CPU (getrusage) per heartbeat, so it includes the client's
// read of the record (loopback, both ends in this process): an upper
// bound on the master's share.
func BenchmarkHeartbeat(b *testing.B) {
	for _, codec := range []Codec{ProtobufCodec, JSONCodec} {
		b.Run(codec.MediaType[len("application/"):], func(b *testing.B) {
			h := newHarnessWith(b, 0, 0)
			res := h.post(codec, "alice", "", subscribeCall(0), "Accept", codec.MediaType)
			defer res.Body.Close()
			sub, _ := next[*messages.SubscribeFramework](h)
			rr := NewRecordReader(res.Body, 1<<20)
			read := func(want sched.Event_Type) {
				for {
					rec, err := rr.Next()
					if err != nil {
						b.Fatal(err)
					}
					ev := &sched.Event{}
					if err := codec.Unmarshal(rec, ev); err != nil {
						b.Fatal(err)
					}
					if ev.GetType() == want {
						return
					}
				}
			}
			read(sched.Event_SUBSCRIBED)
			hb := &messages.FrameworkHeartbeat{}
			var before, after syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
			b.ResetTimer()
			for range b.N {
				h.sys.Root.Send(sub.Pid, hb)
				read(sched.Event_HEARTBEAT)
			}
			b.StopTimer()
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
			cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/heartbeat")
		})
	}
}
