// Package mesosapi serves Mesos' v1 HTTP APIs, so that frameworks and
// executors written for Mesos run on Agora unmodified: the scheduler API
// on the leading master (POST /api/v1/scheduler, Server) and the executor
// API on each agent (POST /api/v1/executor, ExecutorServer), and the
// operator API on the master (POST /api/v1, OperatorServer).
//
// Mesos' vocabulary stays at this edge: the master's core and the agent
// only ever see Agora's messages. Each SUBSCRIBE spawns a local bridge
// actor that acts as a native peer would (a scheduler actor towards the
// master, an executor actor towards the agent), so an HTTP framework is a
// framework like any other:
//
//	Mesos client --POST SUBSCRIBE--> Server --spawn--> bridge --SubscribeFramework--> master
//	             <--RecordIO events-- stream <--emit-- bridge <--Offers, StatusUpdate, ...
//	             --POST ACCEPT, ...-> Server --Accept (as from the bridge, with the caller's identity)--> master
//
// The bridge's PID is the framework's connection: the master watches it,
// and a closed stream (the bridge stops) is a disconnected framework;
// with Mesos' failover_timeout 0 the bridge tears the framework down
// first, as Mesos removes it at once. Calls carry the HTTP client's
// identity (its certificate's, or what Config.Authenticate says) as the
// message header remoting would stamp on a remote peer's messages, so the
// master checks an HTTP framework's principal as any other's.
//
// Mapping (resources.go, tasks.go, frameworks.go, calls.go) refuses what
// Agora cannot do yet by name (ErrUnsupported, answered 400), and the
// codecs (codec.go) write Mesos' JSON: proto field names, enums by name,
// 64-bit integers as numbers. The hot events and calls have direct twins
// of the generic codecs, proven byte- or result-equal by tests and fuzz
// targets: UPDATE and OFFERS written straight from Agora's messages
// (codec_update.go, codec_offers.go), ACKNOWLEDGE, ACCEPT and DECLINE
// read without protojson (codec_ack.go, codec_accept.go). HoldAnswers
// (answers.go) writes the 202s of pipelined calls together.
//
// The operator API (POST /api/v1, OperatorServer) needs no bridge: reads
// map the master's published state (operator_map.go), changes go to the
// master as its own HTTP API sends them, and SUBSCRIBE follows the events
// the master publishes on its actor system's event stream
// (operator_stream.go).
package mesosapi
