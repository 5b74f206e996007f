# Agora's build. `make demo` tries a cluster; `make test` runs every test.
SHELL := /bin/bash
GO ?= go
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOACTOR_DIR = $(shell $(GO) list -m -f '{{.Dir}}' github.com/asynkron/protoactor-go)
BIN := bin
# The version agora prints: the commit it was built from (and "-dirty" when
# the tree had changes), so that a bug report names its build.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: images consul browser registry build test unit bench scale chaos fuzz proto demo lint tools clean

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/agora ./cmd/agora

# test runs the whole suite: race-checked unit and actor tests, then the
# multi-process tests (proto.actor's remoting races with itself under -race
# when two remotes share a process, so those run in child processes).
test: lint build consul images browser registry
	$(GO) test -race -count=1 -timeout 20m ./...

# unit runs what needs neither Docker nor Consul nor agora processes
# (testing.Short() skips those, each saying which make test runs): the
# quick loop while changing the code.
unit:
	$(GO) test -short -count=1 -timeout 5m ./...

# APT waits for another apt or dpkg (a boot-time upgrade, or a second
# make installing beside this one) to let go of the package lock, instead
# of failing at once.
APT = apt-get -o DPkg::Lock::Timeout=600

# images builds the Docker image the tests run tasks in: there is no
# registry to pull from, so it is made from Debian's busybox-static.
images:
	@[ -x /bin/busybox ] || { $(APT) update -qq && $(APT) install -y -qq busybox-static; }
	@mkdir -p $(BIN)/image && cp /bin/busybox $(BIN)/image/busybox
	@printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox","--install","-s","/bin"]\nCMD ["/bin/sh"]\n' > $(BIN)/image/Dockerfile
	docker build -q -t agora/busybox:test $(BIN)/image

# registry installs Debian's docker-registry, a real image registry the
# Docker tests start on loopback to pull from.
registry:
	@[ -x /usr/bin/docker-registry ] || { $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq docker-registry >/dev/null; }

# browser installs Debian's chromium, which the web UI's test drives
# headless (chromedp).
browser:
	@command -v chromium >/dev/null || { $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq chromium >/dev/null; }

# consul builds the pinned Consul server (v1.15.4, MPL-2.0) that the HA
# tests start as dev agents: once, from the Go module proxy (3-4 minutes).
consul: $(BIN)/consul

$(BIN)/consul: tools/consul/go.mod tools/consul/go.sum
	cd tools/consul && $(GO) build -o ../../$(BIN)/consul github.com/hashicorp/consul

bench: consul
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1x -count 1 -timeout 30m ./allocator/... ./actors/... ./cmd/agora/
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 -timeout 60m ./testkit/sim/

# scale runs the multi-process harness over real TCP (testkit/scale), mutual
# TLS as in production: two masters as `agora node --role=master` elected
# through a Consul dev agent, SCALE_AGENTS simulated agents in
# SCALE_AGENT_HOSTS processes, SCALE_FRAMEWORKS SDK frameworks of
# SCALE_TASKS tasks each in two more processes, 20 /state pollers, a SIGKILL
# of the leader and the standby's rebuild, and a bare proto.actor echo
# beside it; it prints the report. SCALE_FLAGS adds environment such as
# AGORA_SCALE_PROFILE=/tmp/master.prof (the master's CPU profile),
# AGORA_SCALE_INSECURE=1 (plaintext), AGORA_SCALE_FAILOVERS=3 (0: one
# master, no Consul), AGORA_SCALE_POLL_IDENTITY=1 (pollers refuse gzip),
# AGORA_SCALE_POLL_ETAG=1 (pollers send If-None-Match),
# AGORA_SCALE_POLL_SUMMARY=1 (pollers read /state/summary),
# AGORA_SCALE_POLL_EVERY=1s (each poller once a second, as a dashboard),
# AGORA_SCALE_FIRST_OFFERS=N (frameworks timed one at a time on the idle
# cluster, 200; -1: none), AGORA_SCALE_ECHO_ROUNDS=N (echo rounds, 5),
# AGORA_SCALE_MASTER_CPUS=0 (the masters on CPU 0, the rest on the others).
# The report's first lines say how fast the machine was (a calibration)
# and its last how much CPU a VM's host stole: compare runs of like both.
SCALE_AGENTS ?= 1000
SCALE_AGENT_HOSTS ?= 2
SCALE_FRAMEWORKS ?= 50
SCALE_TASKS ?= 1000
SCALE_POLL ?= 10s
SCALE_FLAGS ?=
scale: build consul
	AGORA_SCALE_BIN=$(CURDIR)/$(BIN)/agora AGORA_SCALE_AGENTS=$(SCALE_AGENTS) AGORA_SCALE_AGENT_HOSTS=$(SCALE_AGENT_HOSTS) \
		AGORA_SCALE_FRAMEWORKS=$(SCALE_FRAMEWORKS) AGORA_SCALE_TASKS=$(SCALE_TASKS) AGORA_SCALE_POLL=$(SCALE_POLL) $(SCALE_FLAGS) \
		$(GO) test -run '^$$' -bench TCPScale -benchtime 1x -count 1 -timeout 60m -v ./testkit/scale/

# chaos runs every fault of the chaos schedule (docs/chaos.md) against a
# cluster of real processes, each in a network namespace of its own, and
# checks the recorded history; make test runs the short schedule. Needs
# root (namespaces, iptables). AGORA_CHAOS_SEED replays a run's choice of
# victims.
chaos: consul
	AGORA_CHAOS=full $(GO) test -count=1 -run '^TestChaos$$' -v -timeout 15m ./cmd/agora/

# fuzz runs every fuzz target (func FuzzXxx in a _test.go file) for
# FUZZTIME each; go test -fuzz takes one target per run. Their seed corpora
# (f.Add and testdata/fuzz) already run in make test and make unit; a
# crasher found here is written to testdata/fuzz/FuzzXxx: commit it, so it
# stays a test. FUZZFLAGS passes more, such as -parallel=1.
FUZZTIME ?= 30s
FUZZFLAGS ?=
fuzz:
	@set -e; for file in $$(git ls-files '*_test.go' | xargs grep -l '^func Fuzz'); do \
		for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$file); do \
			echo "== $$name in ./$$(dirname $$file) for $(FUZZTIME)"; \
			$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./$$(dirname $$file); \
		done; \
	done

proto:
	@command -v protoc >/dev/null || { echo "protoc missing: apt-get install -y protobuf-compiler"; exit 1; }
	GOBIN=$(CURDIR)/$(BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	PATH=$(CURDIR)/$(BIN):$$PATH protoc -I . -I $(PROTOACTOR_DIR)/actor \
		--go_out=. --go_opt=paths=source_relative \
		--go_opt=Mactor.proto=github.com/asynkron/protoactor-go/actor \
		messages/*.proto
	# Mesos' v1 protos (Apache-2.0, vendored as they are: see
	# messages/mesos/NOTICE); they import each other as mesos/v1/...
	PATH=$(CURDIR)/$(BIN):$$PATH protoc -I messages \
		--go_out=messages --go_opt=paths=source_relative \
		'--go_opt=Mmesos/v1/mesos.proto=github.com/agora-sched/agora/messages/mesos/v1;mesos' \
		'--go_opt=Mmesos/v1/scheduler/scheduler.proto=github.com/agora-sched/agora/messages/mesos/v1/scheduler;scheduler' \
		'--go_opt=Mmesos/v1/executor/executor.proto=github.com/agora-sched/agora/messages/mesos/v1/executor;executor' \
		'--go_opt=Mmesos/v1/master/master.proto=github.com/agora-sched/agora/messages/mesos/v1/master;master' \
		'--go_opt=Mmesos/v1/quota/quota.proto=github.com/agora-sched/agora/messages/mesos/v1/quota;quota' \
		'--go_opt=Mmesos/v1/maintenance/maintenance.proto=github.com/agora-sched/agora/messages/mesos/v1/maintenance;maintenance' \
		'--go_opt=Mmesos/v1/allocator/allocator.proto=github.com/agora-sched/agora/messages/mesos/v1/allocator;allocator' \
		messages/mesos/v1/mesos.proto messages/mesos/v1/scheduler/scheduler.proto messages/mesos/v1/executor/executor.proto \
		messages/mesos/v1/master/master.proto messages/mesos/v1/quota/quota.proto \
		messages/mesos/v1/maintenance/maintenance.proto messages/mesos/v1/allocator/allocator.proto

demo: build
	$(BIN)/agora dev --demo

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	tools/check-tracked.sh

clean:
	rm -rf $(BIN)
