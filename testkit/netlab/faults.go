package netlab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Loss drops each packet between hosts with probability p (iptables'
// statistic match in the router), until the returned undo is called or
// the lab is closed. Cuts still come first: they are inserted above it.
func (l *Lab) Loss(p float64) (undo func()) {
	l.t.Helper()
	rule := []string{"FORWARD", "-m", "statistic", "--mode", "random", "--probability", strconv.FormatFloat(p, 'f', -1, 64), "-j", "DROP"}
	l.must(l.inRouter("iptables", append([]string{"-w", "-A"}, rule...)...))
	var once sync.Once
	return func() {
		once.Do(func() { l.must(l.inRouter("iptables", append([]string{"-w", "-D"}, rule...)...)) })
	}
}

// delayQueue is the NFQUEUE number Delay uses in the router (the router
// is the lab's own namespace: no other queue there).
const delayQueue = 7

// Delay holds every packet between hosts for d before letting it on, until
// the returned undo is called or the lab is closed. These kernels have no
// sch_netem, so the router's FORWARD chain hands each packet to an
// NFQUEUE that this process reads (over a netfilter netlink socket made
// in the router's namespace) and answers ACCEPT d later. A packet crosses
// the router once each way, so a round trip between two hosts takes 2d
// more. With --queue-bypass, packets pass undelayed if the reader is gone.
// Given hosts, only packets from or to one of them are held (once, even
// between two of them).
func (l *Lab) Delay(d time.Duration, hosts ...*Host) (undo func()) {
	l.t.Helper()
	q, err := openQueue(filepath.Join(netnsDir, l.router), delayQueue)
	if err != nil {
		l.t.Fatalf("netlab: cannot read an NFQUEUE in the router (the kernel needs nfnetlink_queue): %v", err)
	}
	q.wg.Add(1)
	go q.serve(d)
	target := []string{"-j", "NFQUEUE", "--queue-num", strconv.Itoa(delayQueue), "--queue-bypass"}
	rules := [][]string{append([]string{"FORWARD"}, target...)}
	if len(hosts) > 0 {
		rules = nil
		for _, h := range hosts {
			rules = append(rules, append([]string{"FORWARD", "-s", h.ip}, target...), append([]string{"FORWARD", "-d", h.ip}, target...))
		}
	}
	for _, rule := range rules {
		l.must(l.inRouter("iptables", append([]string{"-w", "-A"}, rule...)...))
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			var errs []error
			for _, rule := range rules {
				errs = append(errs, l.inRouter("iptables", append([]string{"-w", "-D"}, rule...)...))
			}
			q.close()
			if err := errors.Join(errs...); err != nil && !l.isClosed() {
				l.t.Errorf("netlab: %v", err)
			}
		})
	}
	l.t.Cleanup(stop)
	return stop
}

func (l *Lab) isClosed() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.closed }

// Netfilter netlink constants (linux/netfilter/nfnetlink_queue.h).
const (
	nfnlSubsysQueue = 3
	nfqnlMsgPacket  = 0
	nfqnlMsgVerdict = 1
	nfqnlMsgConfig  = 2
	nfqaCfgCmd      = 1
	nfqaCfgParams   = 2
	nfqaCfgQueueLen = 3
	nfqaPacketHdr   = 1
	nfqaVerdictHdr  = 2
	nfqnlCfgCmdBind = 1
	nfqnlCopyMeta   = 1
	nfAccept        = 1
	nlaTypeMask     = 0x3fff
	queueMaxLen     = 8192
)

// nfQueue is a netfilter netlink socket bound to one queue.
type nfQueue struct {
	fd   int
	num  uint16
	mu   sync.Mutex // serializes verdicts (sent from timers)
	seq  uint32
	done chan struct{}
	wg   sync.WaitGroup
}

// openQueue makes the socket inside the namespace at nsPath (a socket
// keeps the namespace it was made in) and binds the queue.
func openQueue(nsPath string, num uint16) (*nfQueue, error) {
	type result struct {
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		fd, back, err := socketInside(nsPath)
		if back {
			runtime.UnlockOSThread()
		}
		done <- result{fd, err}
	}()
	r := <-done
	if r.err != nil {
		return nil, r.err
	}
	q := &nfQueue{fd: r.fd, num: num, done: make(chan struct{})}
	tv := unix.Timeval{Usec: 200_000} // reads wake to notice close
	if err := unix.SetsockoptTimeval(q.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(q.fd)
		return nil, fmt.Errorf("set the queue socket's read timeout: %w", err)
	}
	_ = unix.SetsockoptInt(q.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	cmd := []byte{nfqnlCfgCmdBind, 0, 0, 0} // command, pad, pf (0: any)
	params := make([]byte, 5)
	binary.BigEndian.PutUint32(params, 0) // copy_range: metadata only
	params[4] = nfqnlCopyMeta
	maxLen := binary.BigEndian.AppendUint32(nil, queueMaxLen)
	for _, attrs := range [][]byte{attr(nfqaCfgCmd, cmd), append(attr(nfqaCfgParams, params), attr(nfqaCfgQueueLen, maxLen)...)} {
		if err := q.send(nfqnlMsgConfig, attrs, true); err != nil {
			unix.Close(q.fd)
			return nil, fmt.Errorf("configure NFQUEUE %d: %w", num, err)
		}
	}
	return q, nil
}

func socketInside(nsPath string) (fd int, back bool, err error) {
	self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, true, fmt.Errorf("open this thread's network namespace: %w", err)
	}
	defer unix.Close(self)
	target, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, true, fmt.Errorf("open %s: %w", nsPath, err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		return -1, true, fmt.Errorf("enter %s: %w", nsPath, err)
	}
	fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err == nil {
		if err = unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			unix.Close(fd)
		}
	}
	return fd, unix.Setns(self, unix.CLONE_NEWNET) == nil, err
}

// attr is one netlink attribute, padded to 4 bytes.
func attr(typ uint16, payload []byte) []byte {
	b := make([]byte, 4, 4+len(payload)+3)
	binary.NativeEndian.PutUint16(b, uint16(4+len(payload)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// send sends one queue message; with ack it waits for the kernel's
// answer (an error message whose code 0 means done).
func (q *nfQueue) send(msgType uint16, attrs []byte, ack bool) error {
	q.mu.Lock()
	select {
	case <-q.done:
		q.mu.Unlock()
		return errors.New("the queue is closed")
	default:
	}
	q.seq++
	seq := q.seq
	flags := uint16(unix.NLM_F_REQUEST)
	if ack {
		flags |= unix.NLM_F_ACK
	}
	msg := make([]byte, unix.NLMSG_HDRLEN+4, unix.NLMSG_HDRLEN+4+len(attrs))
	binary.NativeEndian.PutUint32(msg[0:], uint32(cap(msg)))
	binary.NativeEndian.PutUint16(msg[4:], nfnlSubsysQueue<<8|msgType)
	binary.NativeEndian.PutUint16(msg[6:], flags)
	binary.NativeEndian.PutUint32(msg[8:], seq)
	msg[unix.NLMSG_HDRLEN] = unix.AF_UNSPEC                      // nfgen_family
	binary.BigEndian.PutUint16(msg[unix.NLMSG_HDRLEN+2:], q.num) // res_id: the queue
	msg = append(msg, attrs...)
	err := unix.Sendto(q.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
	q.mu.Unlock()
	if err != nil || !ack {
		return err
	}
	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(q.fd, buf, 0)
		if err != nil {
			return fmt.Errorf("no answer from the kernel: %w", err)
		}
		for _, m := range parseMessages(buf[:n]) {
			if m.typ == unix.NLMSG_ERROR && m.seq == seq && len(m.body) >= 4 {
				if code := int32(binary.NativeEndian.Uint32(m.body)); code != 0 {
					return unix.Errno(-code)
				}
				return nil
			}
		}
	}
}

type nlMessage struct {
	typ  uint16
	seq  uint32
	body []byte
}

func parseMessages(b []byte) []nlMessage {
	var out []nlMessage
	for len(b) >= unix.NLMSG_HDRLEN {
		n := int(binary.NativeEndian.Uint32(b))
		if n < unix.NLMSG_HDRLEN || n > len(b) {
			break
		}
		out = append(out, nlMessage{typ: binary.NativeEndian.Uint16(b[4:]), seq: binary.NativeEndian.Uint32(b[8:]), body: b[unix.NLMSG_HDRLEN:n]})
		b = b[min((n+3)&^3, len(b)):]
	}
	return out
}

// packetID finds the packet's ID in a queued-packet message body.
func packetID(body []byte) (uint32, bool) {
	if len(body) < 4 {
		return 0, false
	}
	b := body[4:] // nfgenmsg
	for len(b) >= 4 {
		n := int(binary.NativeEndian.Uint16(b))
		typ := binary.NativeEndian.Uint16(b[2:]) & nlaTypeMask
		if n < 4 || n > len(b) {
			return 0, false
		}
		if typ == nfqaPacketHdr && n >= 8 {
			return binary.BigEndian.Uint32(b[4:]), true
		}
		b = b[min((n+3)&^3, len(b)):]
	}
	return 0, false
}

// serve reads queued packets until closed, letting each on d after it
// arrived.
func (q *nfQueue) serve(d time.Duration) {
	defer q.wg.Done()
	buf := make([]byte, 1<<16)
	for {
		select {
		case <-q.done:
			return
		default:
		}
		n, _, err := unix.Recvfrom(q.fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) || errors.Is(err, unix.ENOBUFS) {
			// A read timeout (to notice close), or the socket's buffer
			// overflowed: the kernel dropped those packets, as a full
			// netem queue would; their senders retransmit.
			continue
		}
		if err != nil {
			return
		}
		for _, m := range parseMessages(buf[:n]) {
			if m.typ != nfnlSubsysQueue<<8|nfqnlMsgPacket {
				continue
			}
			if id, ok := packetID(m.body); ok {
				time.AfterFunc(d, func() { q.verdict(id) })
			}
		}
	}
}

// verdict lets a held packet on (once the queue is closed, send refuses:
// the kernel dropped what it held when the socket closed).
func (q *nfQueue) verdict(id uint32) {
	hdr := binary.BigEndian.AppendUint32(nil, nfAccept)
	hdr = binary.BigEndian.AppendUint32(hdr, id)
	_ = q.send(nfqnlMsgVerdict, attr(nfqaVerdictHdr, hdr), false)
}

// close stops reading and closes the socket (the kernel lets go of the
// queue with it).
func (q *nfQueue) close() {
	select {
	case <-q.done:
		return
	default:
	}
	q.mu.Lock()
	close(q.done)
	q.mu.Unlock()
	q.wg.Wait()
	unix.Close(q.fd)
}
