//go:build tools

// Package tools pins the Consul server that Agora's HA tests and demo run:
// v1.15.4, the last MPL-2.0 release that builds from the Go module proxy.
// `make consul` builds it into bin/consul.
package tools

import _ "github.com/hashicorp/consul"
