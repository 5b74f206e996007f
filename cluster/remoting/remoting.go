// Package remoting is the one place that configures proto.actor remoting for
// every Agora node: bind and advertised address, logging, mutual TLS and
// the gate that checks who sent what (gate.go), recovering gRPC
// interceptors, keepalive and message size limits.
//
// With TLS (the default), every connection into a node shows a certificate
// of the cluster's CA, every message delivered to an actor carries its
// sender's identity (security.SenderOf), and a peer can neither claim
// another node's PIDs nor send proto.actor's system messages (Stop,
// PoisonPill). Without TLS (Config.Insecure) the gate still refuses those,
// but cannot tell who anyone is.
//
// proto.actor's remote crashes a process on a message type it has not linked
// and panics in two unimplemented gRPC methods; gRPC does not recover handler
// panics. Start installs interceptors that turn such panics into an error on
// that one stream, so a bad peer loses its connection and the node lives on.
package remoting

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/agora-sched/agora/cluster/security"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// DefaultMaxMessageBytes bounds one gRPC frame. proto.actor batches up to
// 1000 messages per frame, so the limit is well above gRPC's 4 MiB default.
const DefaultMaxMessageBytes = 64 << 20

// Config says where a node listens and how it is reached.
type Config struct {
	// Bind is host:port to listen on; port 0 picks a free port, and
	// Node.Address then carries the port the kernel gave.
	Bind string
	// Advertised is host:port peers use to reach this node, when it differs
	// from Bind (NAT, 0.0.0.0 binds). Empty means the bound address. It
	// needs a fixed Bind port: proto.actor uses it verbatim, and with port 0
	// it could not name the port that was bound.
	Advertised string
	// Logger receives proto.actor's own logs (at Warn and above by default).
	Logger *slog.Logger
	// MaxMessageBytes bounds a received frame; 0 means DefaultMaxMessageBytes.
	MaxMessageBytes int
	// Keepalive is how often an idle connection is probed so that a hung or
	// partitioned peer is noticed; 0 means 10 s.
	Keepalive time.Duration
	// TLS is this node's certificate and the CAs it trusts: remoting runs
	// mutual TLS with them. Required unless Insecure.
	TLS *security.Source
	// Insecure runs remoting in plaintext, unauthenticated: every peer's
	// messages carry security.Insecure. Only with --insecure.
	Insecure bool
	// Metrics counts refused connections and messages (nil: not counted).
	Metrics *security.Metrics
}

// Node is a started actor system reachable over TCP.
type Node struct {
	System *actor.ActorSystem
	Remote *remote.Remote
	// Address is the advertised host:port of this node: Config.Advertised,
	// or else the address actually bound (the real port when Bind's is 0).
	// Every PID spawned on System carries it.
	Address string
	// Identities is which identity speaks for which peer address, from the
	// connections into this node.
	Identities *Identities
	// TLS is the node's certificate source (nil when insecure).
	TLS    *security.Source
	logger *slog.Logger
}

// Start creates an actor system and starts remoting on it. Spawn actors only
// after Start: a PID records the node's address at spawn time.
func Start(cfg Config) (*Node, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	host, portText, err := net.SplitHostPort(cfg.Bind)
	if err != nil {
		return nil, fmt.Errorf("remoting: bind address %q is not host:port: %w", cfg.Bind, err)
	}
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		return nil, fmt.Errorf("remoting: bind address %q: IPv6 literals are not supported by proto.actor remoting; use an IPv4 address or a host name", cfg.Bind)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("remoting: bind address %q has an invalid port", cfg.Bind)
	}
	if cfg.TLS == nil && !cfg.Insecure {
		return nil, errors.New("remoting: no TLS certificate given; TLS is required unless the node runs insecure (--insecure)")
	}
	if port == 0 && cfg.Advertised != "" {
		return nil, fmt.Errorf("remoting: cannot advertise %s for bind address %s: port 0 is picked at bind time, so peers would be told a port nobody listens on; bind a fixed port, or do not advertise", cfg.Advertised, cfg.Bind)
	}
	// proto.actor panics when it cannot listen; find out first so the
	// operator gets an error instead.
	if port != 0 {
		l, err := net.Listen("tcp", cfg.Bind)
		if err != nil {
			return nil, fmt.Errorf("remoting: cannot listen on %s (is another node running there?): %w", cfg.Bind, err)
		}
		_ = l.Close()
	}
	maxBytes := cfg.MaxMessageBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxMessageBytes
	}
	ka := cfg.Keepalive
	if ka <= 0 {
		ka = 10 * time.Second
	}

	actorLogger := protoactorLogger(logger)
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return actorLogger }))

	g := &gate{ids: newIdentities(), metrics: cfg.Metrics, log: logger}
	serverOpts := []grpc.ServerOption{
		// The recovering interceptors come first: they also catch a panic
		// in the gate.
		grpc.ChainUnaryInterceptor(recoverUnary(logger), g.unary),
		grpc.ChainStreamInterceptor(recoverStream(logger), g.stream),
		grpc.MaxRecvMsgSize(maxBytes),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: ka, Timeout: 3 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: ka / 2, PermitWithoutStream: true}),
	}
	dialCreds := insecure.NewCredentials()
	if cfg.TLS != nil {
		serverOpts = append(serverOpts, grpc.Creds(loggedCreds{TransportCredentials: credentials.NewTLS(cfg.TLS.ServerConfig(security.ClientRequired)), gate: g}))
		dialCreds = credentials.NewTLS(cfg.TLS.ClientConfig())
	}
	opts := []remote.ConfigOption{
		remote.WithServerOptions(serverOpts...),
		remote.WithDialOptions(
			grpc.WithTransportCredentials(dialCreds),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxBytes), grpc.MaxCallSendMsgSize(maxBytes)),
			grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: ka, Timeout: 3 * time.Second, PermitWithoutStream: true}),
		),
		remote.WithEndpointWriterQueueSize(EndpointWriterQueue),
	}
	if cfg.Advertised != "" {
		opts = append(opts, remote.WithAdvertisedHost(cfg.Advertised))
	}
	r := remote.NewRemote(sys, remote.Configure(host, port, opts...))
	if err := startRemote(r); err != nil {
		return nil, err
	}
	n := &Node{System: sys, Remote: r, Address: sys.Address(), Identities: g.ids, TLS: cfg.TLS, logger: logger}
	g.self.Store(&n.Address)
	if cfg.TLS != nil {
		logger.Info("remoting started", "address", n.Address, "tls", true, "identity", cfg.TLS.Identity().String())
	} else {
		logger.Warn("remoting started WITHOUT TLS (--insecure): anyone who reaches this address can send to this node's actors", "address", n.Address)
	}
	return n, nil
}

// EndpointWriterQueue is the first capacity of the queue of messages to
// each peer node. proto.actor's default, 1,000,000, is allocated whole
// per peer (a ring of interfaces: 16 MB each), which the collector scans
// at every cycle and which becomes resident as the ring turns: a master
// of 10,000 agent nodes would hold 160 GB. The ring doubles when a
// burst fills it, so a small start loses nothing but the first doublings.
const EndpointWriterQueue = 1024

func startRemote(r *remote.Remote) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("remoting: start failed: %v", p)
		}
	}()
	r.Start()
	return nil
}

// Stop shuts remoting down and stops the actor system.
func (n *Node) Stop() {
	n.Remote.Shutdown(false)
	n.System.Shutdown()
}

// ErrPeerPanicked is returned to a peer whose request made a handler panic.
var ErrPeerPanicked = errors.New("request rejected: it crashed the handler (unknown message type or unimplemented method)")

func recoverUnary(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				logger.Warn("remoting: recovered a panic in a gRPC call", "method", info.FullMethod, "panic", p)
				logger.Debug("remoting: panic stack", "stack", string(debug.Stack()))
				err = status.Error(codes.Unimplemented, ErrPeerPanicked.Error())
			}
		}()
		return handler(ctx, req)
	}
}

func recoverStream(logger *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if p := recover(); p != nil {
				logger.Warn("remoting: recovered a panic on a stream; the peer's connection is closed (did it send a message type this node does not know?)", "method", info.FullMethod, "panic", p)
				logger.Debug("remoting: panic stack", "stack", string(debug.Stack()))
				err = status.Error(codes.InvalidArgument, ErrPeerPanicked.Error())
			}
		}()
		return handler(srv, ss)
	}
}
