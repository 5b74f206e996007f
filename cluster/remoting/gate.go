package remoting

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/agora-sched/agora/cluster/security"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// The gate is the server side of every inbound remoting connection. A
// proto.actor peer opens a stream, names the node it speaks for in a
// ConnectRequest (its address), then sends batches of envelopes, each
// with a target, a type name, the message bytes and an optional sender
// PID. Nothing of that is checked by proto.actor: a peer can claim any
// sender and send any type, Stop and PoisonPill included. The gate:
//
//   - learns who the peer is from its TLS certificate (Insecure without TLS);
//   - records the address the peer's ConnectRequest claims in Identities,
//     refusing an address another identity holds or this node's own;
//   - drops envelopes whose sender PID is not at that address, whose type
//     is not Agora's protocol (agora.v1.*) or one of the system messages
//     remote watches need (Watch, Unwatch, Terminated, about actors of
//     the peer's own node) or a request's DeadLetterResponse, or that are
//     malformed (indexes out of range, a serializer other than protobuf);
//   - stamps every envelope it lets through with the peer's identity as a
//     message header, replacing whatever the peer put there: an actor reads
//     it with security.SenderOf.
//
// Every refusal is logged and counted (agora_security_refused_total).
type gate struct {
	self    atomic.Pointer[string] // this node's address, once started
	ids     *Identities
	metrics *security.Metrics
	log     *slog.Logger
}

// receiveMethod is proto.actor's one stream: all messages come on it.
const receiveMethod = "/remote.Remoting/Receive"

// Refusal reasons, as counted.
const (
	reasonHandshake      = "handshake"
	reasonMethod         = "method"
	reasonNoConnect      = "no_connect_request"
	reasonAddressClaimed = "address_claimed"
	reasonSpoofedSender  = "spoofed_sender"
	reasonMessageType    = "message_type"
	reasonMalformed      = "malformed"
)

func (g *gate) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	// ListProcesses and GetProcessDiagnostics: unimplemented upstream
	// (they panic), and nothing Agora uses.
	g.refuse(ctx, security.Identity{}, "", reasonMethod, "gRPC method not served", "method", info.FullMethod)
	return nil, status.Error(codes.Unimplemented, "remoting: only proto.actor's message stream is served")
}

func (g *gate) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if info.FullMethod != receiveMethod {
		g.refuse(ss.Context(), security.Identity{}, "", reasonMethod, "gRPC method not served", "method", info.FullMethod)
		return status.Error(codes.Unimplemented, "remoting: only proto.actor's message stream is served")
	}
	id, err := peerIdentity(ss.Context())
	if err != nil {
		g.refuse(ss.Context(), security.Identity{}, "", reasonHandshake, err.Error())
		return status.Error(codes.Unauthenticated, err.Error())
	}
	gs := &gatedStream{ServerStream: ss, gate: g, id: id, header: &remote.MessageHeader{HeaderData: id.Header()}}
	defer gs.release()
	return handler(srv, gs)
}

// peerIdentity is who the stream's TLS certificate names; Insecure on a
// connection without TLS (only a node run with --insecure serves one).
func peerIdentity(ctx context.Context) (security.Identity, error) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return security.Insecure, nil
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return security.Identity{}, fmt.Errorf("remoting: unexpected transport security %s", p.AuthInfo.AuthType())
	}
	id, ok := security.PeerIdentity(&info.State)
	if !ok {
		return security.Identity{}, security.ErrNoCertificate
	}
	return id, nil
}

func (g *gate) refuse(ctx context.Context, id security.Identity, address, reason, msg string, args ...any) {
	g.metrics.Refuse("remoting", reason)
	remoteAddr := ""
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		remoteAddr = p.Addr.String()
	}
	g.log.Warn("remoting: refused: "+msg, append([]any{"reason", reason, "peer", id.String(), "claims", address, "remote", remoteAddr}, args...)...)
}

// gatedStream checks what a peer sends before proto.actor reads it.
type gatedStream struct {
	grpc.ServerStream
	gate    *gate
	id      security.Identity
	header  *remote.MessageHeader // shared by the stream's envelopes; read only
	address string                // the node this stream speaks for, once connected
}

// errRefused ends a stream whose peer broke the protocol.
var errRefused = status.Error(codes.PermissionDenied, "remoting: refused (see the receiving node's log)")

func (s *gatedStream) RecvMsg(m any) error {
	for {
		if err := s.ServerStream.RecvMsg(m); err != nil {
			return err
		}
		msg, ok := m.(*remote.RemoteMessage)
		if !ok {
			return errRefused
		}
		switch t := msg.MessageType.(type) {
		case *remote.RemoteMessage_ConnectRequest:
			if err := s.connect(t.ConnectRequest); err != nil {
				return err
			}
		case *remote.RemoteMessage_MessageBatch:
			if s.address == "" {
				s.gate.refuse(s.Context(), s.id, "", reasonNoConnect, "messages before a ConnectRequest; stream closed")
				return errRefused
			}
			if s.admit(t.MessageBatch) == 0 {
				continue // nothing left of the batch: read the next
			}
		}
		return nil
	}
}

// connect takes the address a peer says it speaks for.
func (s *gatedStream) connect(c *remote.ConnectRequest) error {
	sc := c.GetServerConnection()
	if sc == nil || sc.Address == "" {
		s.gate.refuse(s.Context(), s.id, "", reasonNoConnect, "a ConnectRequest naming no node address; stream closed")
		return errRefused
	}
	if s.address != "" {
		if sc.Address == s.address {
			return nil
		}
		s.gate.refuse(s.Context(), s.id, sc.Address, reasonAddressClaimed, "a second address on one stream; stream closed", "first", s.address)
		return errRefused
	}
	if self := s.gate.self.Load(); self != nil && *self == sc.Address {
		s.gate.refuse(s.Context(), s.id, sc.Address, reasonAddressClaimed, "a peer claims this node's own address; stream closed")
		return errRefused
	}
	if holder, err := s.gate.ids.claim(sc.Address, s.id); err != nil {
		s.gate.refuse(s.Context(), s.id, sc.Address, reasonAddressClaimed, "the address is held by another identity; stream closed", "holder", holder.String())
		return errRefused
	}
	s.address = sc.Address
	return nil
}

func (s *gatedStream) release() {
	if s.address != "" {
		s.gate.ids.release(s.address, s.id)
	}
}

// admit drops the envelopes the peer may not send and stamps the others
// with its identity; it returns how many are left.
func (s *gatedStream) admit(b *remote.MessageBatch) int {
	// Each type name of the batch is judged once.
	kinds := make([]kind, len(b.TypeNames))
	for i, name := range b.TypeNames {
		kinds[i] = kindOf(name)
	}
	kept := b.Envelopes[:0]
	for _, e := range b.Envelopes {
		if reason, why := s.check(b, e, kinds); reason != "" {
			name := ""
			if int(e.TypeId) >= 0 && int(e.TypeId) < len(b.TypeNames) {
				name = b.TypeNames[e.TypeId]
			}
			s.gate.refuse(s.Context(), s.id, s.address, reason, why, "type", name)
			continue
		}
		e.MessageHeader = s.header
		kept = append(kept, e)
	}
	clear(b.Envelopes[len(kept):])
	b.Envelopes = kept
	return len(kept)
}

// kind is what the gate makes of a message type name.
type kind uint8

const (
	kindRefused    kind = iota
	kindAgora           // agora.v1.*, linked in this binary
	kindWatch           // actor.Watch, actor.Unwatch: the watcher must be the peer's
	kindTerminated      // actor.Terminated: the actor that ended must be the peer's
	kindDeadLetter      // actor.DeadLetterResponse: the missing target must be the peer's
)

func kindOf(name string) kind {
	switch name {
	case "actor.Watch", "actor.Unwatch":
		return kindWatch
	case "actor.Terminated":
		return kindTerminated
	case "actor.DeadLetterResponse":
		return kindDeadLetter
	}
	if !strings.HasPrefix(name, "agora.v1.") {
		return kindRefused
	}
	// A type this binary does not link would crash proto.actor's reader.
	if _, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(name)); err != nil {
		return kindRefused
	}
	return kindAgora
}

// check says why an envelope is refused ("" when it is not).
func (s *gatedStream) check(b *remote.MessageBatch, e *remote.MessageEnvelope, kinds []kind) (reason, why string) {
	if e.TypeId < 0 || int(e.TypeId) >= len(kinds) || e.Target < 0 || int(e.Target) >= len(b.Targets) ||
		e.Sender < 0 || int(e.Sender) > len(b.Senders) || e.SerializerId != 0 {
		return reasonMalformed, "a malformed envelope (index out of range, or not protobuf)"
	}
	if e.Sender > 0 && b.Senders[e.Sender-1].GetAddress() != s.address {
		return reasonSpoofedSender, fmt.Sprintf("a sender PID at %s on a connection from %s", b.Senders[e.Sender-1].GetAddress(), s.address)
	}
	var about *actor.PID
	switch kinds[e.TypeId] {
	case kindRefused:
		return reasonMessageType, "a message type outside Agora's protocol (remote Stop, PoisonPill and other system messages are never accepted)"
	case kindAgora:
		return "", ""
	case kindWatch:
		m := &actor.Watch{} // Unwatch has the same wire form
		if proto.Unmarshal(e.MessageData, m) != nil {
			return reasonMalformed, "an unreadable watch"
		}
		about = m.Watcher
	case kindTerminated:
		m := &actor.Terminated{}
		if proto.Unmarshal(e.MessageData, m) != nil {
			return reasonMalformed, "an unreadable Terminated"
		}
		about = m.Who
	case kindDeadLetter:
		m := &actor.DeadLetterResponse{}
		if proto.Unmarshal(e.MessageData, m) != nil {
			return reasonMalformed, "an unreadable DeadLetterResponse"
		}
		about = m.Target
	}
	if about.GetAddress() != s.address {
		return reasonSpoofedSender, fmt.Sprintf("a system message about an actor at %s on a connection from %s", about.GetAddress(), s.address)
	}
	return "", ""
}

// Identities is which identity speaks for which node address, as the
// connections into this node established it. An address is held by one
// identity while it has a connection open; another identity claiming it
// meanwhile is refused.
type Identities struct {
	mu sync.Mutex
	by map[string]*holder
}

type holder struct {
	id      security.Identity
	streams int
}

func newIdentities() *Identities { return &Identities{by: map[string]*holder{}} }

// Of is the identity that speaks for address now; false when no
// connection from it is open.
func (r *Identities) Of(address string) (security.Identity, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.by[address]
	if !ok {
		return security.Identity{}, false
	}
	return h.id, true
}

func (r *Identities) claim(address string, id security.Identity) (security.Identity, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.by[address]
	if !ok {
		r.by[address] = &holder{id: id, streams: 1}
		return id, nil
	}
	if h.id != id {
		return h.id, errors.New("address held by another identity")
	}
	h.streams++
	return id, nil
}

func (r *Identities) release(address string, id security.Identity) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h, ok := r.by[address]; ok && h.id == id {
		if h.streams--; h.streams == 0 {
			delete(r.by, address)
		}
	}
}

// loggedCreds logs and counts the TLS handshakes a node refuses: a peer
// with no certificate, one of another CA, or plaintext.
type loggedCreds struct {
	credentials.TransportCredentials
	gate *gate
}

func (c loggedCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	out, info, err := c.TransportCredentials.ServerHandshake(conn)
	if err != nil {
		if errors.Is(err, io.EOF) {
			c.gate.log.Debug("remoting: a connection closed during its TLS handshake", "remote", conn.RemoteAddr().String())
		} else {
			c.gate.metrics.Refuse("remoting", reasonHandshake)
			c.gate.log.Warn("remoting: refused a connection: TLS handshake failed (no certificate of this cluster's CA, or not TLS)", "remote", conn.RemoteAddr().String(), "err", err)
		}
	}
	return out, info, err
}

func (c loggedCreds) Clone() credentials.TransportCredentials {
	return loggedCreds{TransportCredentials: c.TransportCredentials.Clone(), gate: c.gate}
}
