// Package messages holds Agora's wire format: every protobuf message that
// crosses a node boundary (package agora.v1), and the few helpers that parse,
// validate and print resources and attributes in Mesos' text syntax.
//
// Every Agora binary links this one package, so a proto.actor node never
// receives a message type it does not know. Regenerate the .pb.go files with
// `make proto` after editing a .proto file; they are committed so that a
// build needs no protoc.
package messages
