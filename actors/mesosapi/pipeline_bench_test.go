package mesosapi_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"strconv"

	"github.com/agora-sched/agora/actors/mesosapi"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
)

// pipeline is a scheduler's connection for calls as libprocess' HTTP
// client uses one: kept alive, requests written back to back without
// waiting for the previous answer (HTTP/1.1 pipelining), answers read in
// order. Whatever calls are waiting when the writer is free go out in one
// write.
type pipeline struct {
	s    *subscription
	conn net.Conn
	// head is the request line and headers up to Content-Length's value.
	head []byte
}

func newPipeline(s *subscription) (*pipeline, error) {
	u, err := neturl.Parse(s.url)
	if err != nil {
		return nil, err
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		return nil, fmt.Errorf("pipelined connection: %w", err)
	}
	head := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nAccept: %s\r\n%s: %s\r\nContent-Length: ",
		u.Path, u.Host, s.codec.MediaType, s.codec.MediaType, mesosapi.StreamIDHeader, s.stream)
	return &pipeline{s: s, conn: conn, head: head}, nil
}

// run sends the calls of calls until it is closed and every answer is
// read; the first error (a call not answered 202 included) ends it.
func (p *pipeline) run(calls <-chan *sched.Call) error {
	defer p.conn.Close()
	batches := make(chan int, 1024)
	readErr := make(chan error, 1)
	go func() {
		err := p.readAnswers(batches)
		if err != nil {
			p.conn.Close() // the writer's next write fails
		}
		readErr <- err
	}()
	var buf []byte
	var err error
	for c := range calls {
		buf = buf[:0]
		n := 0
		for c != nil {
			if buf, err = p.appendRequest(buf, c); err != nil {
				break
			}
			n++
			select {
			case c = <-calls:
			default:
				c = nil
			}
		}
		if err == nil {
			_, err = p.conn.Write(buf)
		}
		if err != nil {
			break
		}
		batches <- n
	}
	close(batches)
	if err != nil {
		p.conn.Close()
		<-readErr
		return err
	}
	return <-readErr
}

func (p *pipeline) appendRequest(buf []byte, c *sched.Call) ([]byte, error) {
	c.FrameworkId = p.s.fid
	body, err := p.s.codec.Marshal(c)
	if err != nil {
		return buf, err
	}
	buf = append(buf, p.head...)
	buf = strconv.AppendInt(buf, int64(len(body)), 10)
	buf = append(buf, "\r\n\r\n"...)
	return append(buf, body...), nil
}

func (p *pipeline) readAnswers(batches <-chan int) error {
	br := bufio.NewReader(p.conn)
	for n := range batches {
		for range n {
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				return fmt.Errorf("reading a pipelined answer: %w", err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusAccepted {
				return fmt.Errorf("a pipelined call was answered %s", res.Status)
			}
		}
	}
	return nil
}
