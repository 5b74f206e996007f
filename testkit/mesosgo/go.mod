// Module mesosgo builds mesos-go's example frameworks, which the process
// tests run against Agora as unmodified Mesos clients. It is its own module
// so that the main module does not pick up mesos-go's dependencies.
module github.com/agora-sched/agora/testkit/mesosgo

go 1.26.7

require (
	github.com/beorn7/perks v1.0.0 // indirect
	github.com/gogo/protobuf v1.1.1 // indirect
	github.com/golang/protobuf v1.3.1 // indirect
	github.com/google/uuid v1.0.0 // indirect
	github.com/matttproud/golang_protobuf_extensions v1.0.1 // indirect
	github.com/mesos/mesos-go v0.0.11 // indirect
	github.com/pborman/uuid v1.2.1 // indirect
	github.com/pquerna/ffjson v0.0.0-20190930134022-aa0246cd15f7 // indirect
	// mesos-go's go.mod lists no requirements; these versions build with
	// this Go (newer ones dropped APIs its examples use).
	github.com/prometheus/client_golang v0.9.4 // indirect
	github.com/prometheus/client_model v0.0.0-20190129233127-fd36f4220a90 // indirect
	github.com/prometheus/common v0.4.1 // indirect
	github.com/prometheus/procfs v0.0.2 // indirect
)

tool (
	github.com/mesos/mesos-go/api/v1/cmd/example-executor
	github.com/mesos/mesos-go/api/v1/cmd/example-scheduler
	github.com/mesos/mesos-go/api/v1/cmd/msh
)
