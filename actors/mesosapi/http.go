package mesosapi

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agora-sched/agora/cluster/security"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
)

// Path is where the scheduler API is served.
const Path = "/api/v1/scheduler"

// StreamIDHeader names a subscription: SUBSCRIBE's response carries it,
// and every later call of that framework must.
const StreamIDHeader = "Mesos-Stream-Id"

// Defaults for Config.
const (
	DefaultSubscribeTimeout = 10 * time.Second
	DefaultStreamBuffer     = 4096
	// DefaultMaxStreams bounds the subscriptions one master serves at
	// once (each holds a connection, a goroutine and an actor).
	DefaultMaxStreams = 10_000
	// DefaultMaxCallBytes bounds a call's body (a large ACCEPT of many
	// tasks fits; Mesos itself takes up to its libprocess limit).
	DefaultMaxCallBytes = 16 << 20
)

// Config is what the scheduler API is built from.
type Config struct {
	System *actor.ActorSystem
	// Master is the leading master actor of this node (nil while it does
	// not lead: answered 503; a standby's HTTP server answers 307 before
	// the API is reached).
	Master func() *actor.PID
	// Authenticate says who sent a request. nil takes the identity of
	// the client's certificate (security.RequireIdentity put it in the
	// request's context). FrameworkCredentials takes HTTP Basic or bearer
	// credentials; any hook returns who sent r, or an error (401).
	Authenticate func(r *http.Request) (security.Identity, error)
	Streams
	// MaxStreams bounds the subscriptions open at once (more are
	// answered 503).
	MaxStreams int
}

// Streams is what the scheduler and the executor APIs share: their clock
// and logger, and the bounds of a subscription's stream.
type Streams struct {
	Clock  clockwork.Clock
	Logger *slog.Logger
	// SubscribeTimeout bounds the wait for the peer actor's answer to a
	// SUBSCRIBE; StreamBuffer the events queued for a slow client;
	// MaxCallBytes a call's body.
	SubscribeTimeout time.Duration
	StreamBuffer     int
	MaxCallBytes     int64
}

// withDefaults fills what is not set.
func (s Streams) withDefaults() Streams {
	if s.Clock == nil {
		s.Clock = clockwork.NewRealClock()
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.SubscribeTimeout <= 0 {
		s.SubscribeTimeout = DefaultSubscribeTimeout
	}
	if s.StreamBuffer <= 0 {
		s.StreamBuffer = DefaultStreamBuffer
	}
	if s.MaxCallBytes <= 0 {
		s.MaxCallBytes = DefaultMaxCallBytes
	}
	return s
}

// Server serves Mesos' v1 scheduler API: POST /api/v1/scheduler.
type Server struct {
	cfg     Config
	mu      sync.Mutex
	streams map[string]*stream
	open    atomic.Int64 // subscriptions being served, subscribed or not
}

// New returns the scheduler API's handler.
func New(cfg Config) *Server {
	cfg.Streams = cfg.Streams.withDefaults()
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = DefaultMaxStreams
	}
	if cfg.Authenticate == nil {
		cfg.Authenticate = certificateIdentity
	}
	return &Server{cfg: cfg, streams: map[string]*stream{}}
}

func certificateIdentity(r *http.Request) (security.Identity, error) {
	if id, ok := security.IdentityFrom(r.Context()); ok {
		return id, nil
	}
	return security.IdentityOf(r), nil
}

func (s *Server) register(st *stream) {
	s.mu.Lock()
	s.streams[st.id] = st
	s.mu.Unlock()
}

func (s *Server) forget(st *stream) {
	s.mu.Lock()
	if s.streams[st.id] == st {
		delete(s.streams, st.id)
	}
	s.mu.Unlock()
}

func (s *Server) lookup(id string) *stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams[id]
}

// ServeHTTP answers as Mesos' master does: 200 and a RecordIO stream for
// SUBSCRIBE, 202 for every other call; 400 for a malformed call, 401
// unauthenticated, 403 for a stream or framework not the caller's, 405
// for another method, 406 for an Accept it cannot answer, 415 for a body
// in a codec it does not speak, 503 while no master leads here.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in, ok := postedCodec(w, r)
	if !ok {
		return
	}
	id, err := s.cfg.Authenticate(r)
	if err != nil {
		s.cfg.Logger.Warn("Mesos scheduler call refused: not authenticated", "remote", r.RemoteAddr, "err", err)
		w.Header().Add("WWW-Authenticate", `Basic realm="agora"`)
		w.Header().Add("WWW-Authenticate", `Bearer realm="agora"`)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	body, ok := postedCall(w, r, s.cfg.MaxCallBytes)
	if !ok {
		return
	}
	call := &sched.Call{}
	if err := in.Unmarshal(body, call); err != nil {
		http.Error(w, "Failed to parse body into Call: "+err.Error(), http.StatusBadRequest)
		return
	}
	switch call.GetType() {
	case sched.Call_SUBSCRIBE:
		s.subscribe(w, r, in, id, call)
	case sched.Call_UPDATE_FRAMEWORK:
		if st, ok := s.caller(w, r, id, call); ok {
			s.updateFramework(w, r, st, call)
		}
	default:
		if st, ok := s.caller(w, r, id, call); ok {
			s.call(w, r, st, call)
		}
	}
}

// caller is the stream a call (other than SUBSCRIBE) belongs to, checked
// as Mesos checks it: the stream ID names the framework's current
// subscription, and the caller is its subscriber (answered here if not;
// false then).
func (s *Server) caller(w http.ResponseWriter, r *http.Request, id security.Identity, call *sched.Call) (*stream, bool) {
	streamID := r.Header.Get(StreamIDHeader)
	if streamID == "" {
		http.Error(w, "All non-subscribe calls should include the '"+StreamIDHeader+"' header", http.StatusBadRequest)
		return nil, false
	}
	fid := call.GetFrameworkId().GetValue()
	if fid == "" {
		http.Error(w, "Expecting 'framework_id' to be present", http.StatusBadRequest)
		return nil, false
	}
	st := s.lookup(streamID)
	if st == nil || st.framework() != fid {
		http.Error(w, fmt.Sprintf("The stream ID '%s' included in this request didn't match the stream ID currently associated with framework ID %s", streamID, fid), http.StatusForbidden)
		return nil, false
	}
	if id != st.who {
		http.Error(w, fmt.Sprintf("framework %s was subscribed by %s, not %s", fid, st.who.Name, id), http.StatusForbidden)
		return nil, false
	}
	return st, true
}

// call forwards a call of a subscribed framework to the master, as from
// its bridge.
func (s *Server) call(w http.ResponseWriter, r *http.Request, st *stream, call *sched.Call) {
	fid := call.GetFrameworkId().GetValue()
	msg, err := callIn(call)
	if err != nil {
		s.cfg.Logger.Warn("Mesos scheduler call refused", "framework_id", fid, "call", call.GetType().String(), "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if msg != nil {
		s.cfg.System.Root.Send(st.master, &actor.MessageEnvelope{Message: msg, Sender: st.bridge, Header: st.header})
	} else {
		s.cfg.Logger.Info("Mesos scheduler call taken; nothing to do for it", "framework_id", fid, "call", call.GetType().String())
	}
	holdAnswer(r) // with the answers of the calls pipelined behind it (answers.go)
	w.WriteHeader(http.StatusAccepted)
}

// subscribe starts a bridge for the framework and streams its events
// until either side ends.
func (s *Server) subscribe(w http.ResponseWriter, r *http.Request, in Codec, id security.Identity, call *sched.Call) {
	// Mesos-go asks for application/recordio with the codec in
	// Message-Accept; older clients name the codec in Accept.
	recordio := false
	accept := r.Header.Get("Accept")
	for _, part := range strings.Split(accept, ",") {
		if strings.HasPrefix(strings.TrimSpace(part), MediaRecordIO) {
			recordio, accept = true, r.Header.Get("Message-Accept")
		}
	}
	out, ok := accepts(accept, in)
	if !ok {
		http.Error(w, fmt.Sprintf("Expecting 'Accept' to allow %s or %s", MediaProtobuf, MediaJSON), http.StatusNotAcceptable)
		return
	}
	sub := call.GetSubscribe()
	if sub.GetFrameworkInfo() == nil {
		http.Error(w, "Expecting 'subscribe.framework_info' to be present", http.StatusBadRequest)
		return
	}
	if c, f := call.GetFrameworkId().GetValue(), sub.GetFrameworkInfo().GetId().GetValue(); c != f {
		http.Error(w, "'framework_id' differs from 'subscribe.framework_info.id'", http.StatusBadRequest)
		return
	}
	fw, err := frameworkIn(sub.GetFrameworkInfo())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if n := s.open.Add(1); n > int64(s.cfg.MaxStreams) {
		s.open.Add(-1)
		http.Error(w, fmt.Sprintf("this master serves %d subscriptions already; retry later", s.cfg.MaxStreams), http.StatusServiceUnavailable)
		return
	}
	defer s.open.Add(-1)
	master := s.cfg.Master()
	if master == nil {
		http.Error(w, "this master is not leading now; retry shortly", http.StatusServiceUnavailable)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "this server cannot stream", http.StatusInternalServerError)
		return
	}
	st := &stream{id: newStreamID(), codec: out, who: id, header: id.Header(), master: master,
		out: newOutbox(s.cfg.StreamBuffer), result: make(chan *subscribeError, 1), done: make(chan struct{})}
	log := s.cfg.Logger.With("stream", st.id, "framework", fw.info.GetName(), "principal", id.String())
	b := &bridge{srv: s, st: st, fw: fw, suppressed: sub.GetSuppressedRoles(), log: log}
	st.bridge = s.cfg.System.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return b }))

	var refused *subscribeError
	select {
	case refused = <-st.result:
	case <-r.Context().Done():
		s.cfg.System.Root.Send(st.bridge, streamClosed{})
		return
	}
	if refused != nil {
		log.Warn("Mesos framework subscription refused", "status", refused.status, "err", refused.text)
		http.Error(w, refused.text, refused.status)
		return
	}
	h := w.Header()
	if recordio {
		h.Set("Content-Type", MediaRecordIO)
		h.Set("Message-Content-Type", out.MediaType)
	} else {
		h.Set("Content-Type", out.MediaType)
	}
	h.Set(StreamIDHeader, st.id)
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	// Each wake-up writes every record queued since the last, then
	// flushes once.
	var spare []byte
	var wrote bool
	for {
		select {
		case <-st.out.ready:
			if spare, wrote, err = st.out.writeTo(w, spare); err != nil {
				s.cfg.System.Root.Send(st.bridge, streamClosed{})
				return
			}
			if wrote {
				flusher.Flush()
			}
		case <-st.done:
			// The bridge's last records (an ERROR) go out before the end.
			if _, wrote, _ = st.out.writeTo(w, spare); wrote {
				flusher.Flush()
			}
			return
		case <-r.Context().Done():
			s.cfg.System.Root.Send(st.bridge, streamClosed{})
			return
		}
	}
}

// readCall reads a call's body, at most max bytes (one more says it was
// longer). A body that gives its length is read into a buffer of that
// size at once, without growing one.
// postedCodec is the codec of a POSTed call, as Mesos' endpoints check
// it: 405 for another method, 415 for a Content-Type neither codec's
// (answered here; false then).
func postedCodec(w http.ResponseWriter, r *http.Request) (Codec, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "Expecting a 'POST' request, received '"+r.Method+"'", http.StatusMethodNotAllowed)
		return Codec{}, false
	}
	in, ok := codecFor(r.Header.Get("Content-Type"))
	if !ok {
		http.Error(w, fmt.Sprintf("Expecting 'Content-Type' of %s or %s, received %q", MediaJSON, MediaProtobuf, r.Header.Get("Content-Type")), http.StatusUnsupportedMediaType)
	}
	return in, ok
}

// postedCall is a call's body, at most max bytes: 400 when it cannot be
// read, 413 when it is larger (answered here; false then).
func postedCall(w http.ResponseWriter, r *http.Request, max int64) ([]byte, bool) {
	body, err := readCall(r, max)
	if err != nil {
		http.Error(w, "reading the call: "+err.Error(), http.StatusBadRequest)
		return nil, false
	}
	if int64(len(body)) > max {
		http.Error(w, fmt.Sprintf("the call is larger than %d bytes", max), http.StatusRequestEntityTooLarge)
		return nil, false
	}
	return body, true
}

func readCall(r *http.Request, max int64) ([]byte, error) {
	if n := r.ContentLength; n >= 0 && n <= max {
		body := make([]byte, n)
		_, err := io.ReadFull(r.Body, body)
		return body, err
	}
	return io.ReadAll(io.LimitReader(r.Body, max+1))
}

func newStreamID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
