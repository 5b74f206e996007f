// Command operatorcheck drives a master's Mesos v1 operator API with
// mesos-go's operator client (api/v1/lib/master/calls and httpmaster), as
// an operator's tool written for Mesos would: it subscribes to the event
// stream, waits for a task to be added and to finish (the caller runs
// one once it prints "SUBSCRIBED"), then reads the state and the tasks,
// sets and reads a quota and a weight, drains and reactivates the task's
// agent, reads the flags and metrics, schedules maintenance and stops it,
// reserves disk on it, creates and destroys a persistent volume and
// unreserves the disk, and checks that an unsupported call is refused by
// name. Each step
// prints a line; it exits 0 when all passed, 1 with the step that failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpmaster"
	"github.com/mesos/mesos-go/api/v1/lib/maintenance"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/master/calls"
	"github.com/mesos/mesos-go/api/v1/lib/quota"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:5050/api/v1", "the master's operator API")
	codec := flag.String("codec", "protobuf", "protobuf or json")
	timeout := flag.Duration("timeout", time.Minute, "how long the whole check may take")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, *url, *codec); err != nil {
		fmt.Println("FAILED:", err)
		os.Exit(1)
	}
	fmt.Println("operator checks passed")
}

type checker struct {
	send calls.Sender
}

// call sends a call and decodes its response (none for a change).
func (c *checker) call(ctx context.Context, call *master.Call) (*master.Response, error) {
	resp, err := c.send.Send(ctx, calls.NonStreaming(call))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", call.GetType(), err)
	}
	if resp == nil {
		return nil, nil
	}
	defer resp.Close()
	var r master.Response
	if err := resp.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: decoding the response: %w", call.GetType(), err)
	}
	return &r, nil
}

// until calls until ok says the response is what is awaited (the
// master's published state follows a change within moments).
func (c *checker) until(ctx context.Context, call *master.Call, ok func(*master.Response) bool) (*master.Response, error) {
	for {
		r, err := c.call(ctx, call)
		if err != nil {
			return nil, err
		}
		if ok(r) {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return r, fmt.Errorf("%s: not as awaited in time: %s", call.GetType(), r.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func run(ctx context.Context, url, codecName string) error {
	mt := codecs.MediaTypeProtobuf
	if codecName == "json" {
		mt = codecs.MediaTypeJSON
	}
	c := &checker{send: httpmaster.NewSender(httpcli.New(httpcli.Endpoint(url), httpcli.Codec(codecs.ByMediaType[mt])).Send)}

	stream, err := c.send.Send(ctx, calls.NonStreaming(calls.Subscribe()))
	if err != nil {
		return fmt.Errorf("SUBSCRIBE: %w", err)
	}
	defer stream.Close()
	var first master.Event
	if err := stream.Decode(&first); err != nil {
		return fmt.Errorf("SUBSCRIBE: the first event: %w", err)
	}
	if first.GetType() != master.Event_SUBSCRIBED || first.GetSubscribed().GetGetState() == nil {
		return fmt.Errorf("SUBSCRIBE: the first event is %s, not SUBSCRIBED with the state", first.GetType())
	}
	fmt.Printf("SUBSCRIBED agents=%d heartbeat=%vs\n", len(first.GetSubscribed().GetGetState().GetGetAgents().GetAgents()),
		first.GetSubscribed().GetHeartbeatIntervalSeconds())
	events := make(chan master.Event, 1024)
	go func() {
		defer close(events)
		for {
			var e master.Event
			if err := stream.Decode(&e); err != nil {
				if !errors.Is(err, io.EOF) && ctx.Err() == nil {
					fmt.Println("stream ended:", err)
				}
				return
			}
			events <- e
		}
	}()

	// A task is added, then updated until it finishes.
	var task mesos.TaskID
	var agent mesos.AgentID
	var states []string
	for done := false; !done; {
		select {
		case <-ctx.Done():
			return fmt.Errorf("events: no task added and finished in time (saw %v)", states)
		case e, ok := <-events:
			if !ok {
				return errors.New("events: the stream ended before a task finished")
			}
			switch e.GetType() {
			case master.Event_TASK_ADDED:
				if task.Value == "" {
					t := e.GetTaskAdded().GetTask()
					task, agent = t.GetTaskID(), t.GetAgentID()
					fmt.Printf("TASK_ADDED %s on %s %s\n", task.Value, agent.Value, t.GetState())
				}
			case master.Event_TASK_UPDATED:
				u := e.GetTaskUpdated()
				if u.GetStatus().TaskID.Value == task.Value {
					states = append(states, u.GetState().String())
					fmt.Printf("TASK_UPDATED %s %s\n", task.Value, u.GetState())
					done = u.GetState() == mesos.TASK_FINISHED
				}
			case master.Event_FRAMEWORK_ADDED:
				fmt.Printf("FRAMEWORK_ADDED %s\n", e.GetFrameworkAdded().GetFramework().FrameworkInfo.Name)
			}
		}
	}

	// The task is among the finished ones, the agent and framework in
	// the state.
	r, err := c.call(ctx, calls.GetTasks())
	if err != nil {
		return err
	}
	found := false
	for _, t := range r.GetGetTasks().GetCompletedTasks() {
		found = found || t.GetTaskID().Value == task.Value && t.GetState() == mesos.TASK_FINISHED
	}
	if !found {
		return fmt.Errorf("GET_TASKS: %s is not among the completed tasks: %s", task.Value, r.GetGetTasks().String())
	}
	fmt.Printf("GET_TASKS %s completed\n", task.Value)
	r, err = c.call(ctx, calls.GetState())
	if err != nil {
		return err
	}
	st := r.GetGetState()
	if len(st.GetGetAgents().GetAgents()) == 0 || st.GetGetAgents().GetAgents()[0].AgentInfo.ID.Value != agent.Value {
		return fmt.Errorf("GET_STATE: agent %s missing: %s", agent.Value, st.GetGetAgents().String())
	}
	fmt.Printf("GET_STATE agents=%d frameworks=%d completed_tasks=%d\n", len(st.GetGetAgents().GetAgents()),
		len(st.GetGetFrameworks().GetFrameworks()), len(st.GetGetTasks().GetCompletedTasks()))

	// A quota (Mesos 1.9's UPDATE_QUOTA) and a weight, read back.
	update := &master.Call{Type: master.Call_UPDATE_QUOTA, UpdateQuota: &master.Call_UpdateQuota{QuotaConfigs: []quota.QuotaConfig{{
		Role: "ops", Guarantees: map[string]mesos.Value_Scalar{"cpus": {Value: 0.5}}, Limits: map[string]mesos.Value_Scalar{"cpus": {Value: 1}}}}}}
	if _, err := c.call(ctx, update); err != nil {
		return err
	}
	r, err = c.call(ctx, calls.GetQuota())
	if err != nil {
		return err
	}
	configs := r.GetGetQuota().Status.Configs
	if len(configs) != 1 || configs[0].Role != "ops" || configs[0].Guarantees["cpus"].Value != 0.5 || configs[0].Limits["cpus"].Value != 1 {
		return fmt.Errorf("GET_QUOTA: not the quota set: %s", r.GetGetQuota().String())
	}
	fmt.Println("UPDATE_QUOTA, GET_QUOTA ops cpus guarantee 0.5 limit 1")
	role := "ops"
	if _, err := c.call(ctx, calls.UpdateWeights(mesos.WeightInfo{Role: &role, Weight: 2})); err != nil {
		return err
	}
	r, err = c.call(ctx, calls.GetWeights())
	if err != nil {
		return err
	}
	if w := r.GetGetWeights().GetWeightInfos(); len(w) != 1 || w[0].GetRole() != "ops" || w[0].Weight != 2 {
		return fmt.Errorf("GET_WEIGHTS: not the weight set: %s", r.GetGetWeights().String())
	}
	fmt.Println("UPDATE_WEIGHTS, GET_WEIGHTS ops 2")

	// The agent drains (nothing runs there: it is drained at once) and
	// comes back.
	if _, err := c.call(ctx, calls.DrainAgent(agent)); err != nil {
		return err
	}
	if _, err := c.until(ctx, calls.GetAgents(), func(r *master.Response) bool {
		a := r.GetGetAgents().GetAgents()
		return len(a) == 1 && a[0].GetDeactivated() && a[0].GetDrainInfo().GetState() == mesos.DrainState_DRAINED
	}); err != nil {
		return err
	}
	fmt.Printf("DRAIN_AGENT %s drained\n", agent.Value)
	if _, err := c.call(ctx, calls.ReactivateAgent(agent)); err != nil {
		return err
	}
	if _, err := c.until(ctx, calls.GetAgents(), func(r *master.Response) bool {
		a := r.GetGetAgents().GetAgents()
		return len(a) == 1 && a[0].GetActive() && !a[0].GetDeactivated()
	}); err != nil {
		return err
	}
	fmt.Printf("REACTIVATE_AGENT %s active\n", agent.Value)

	// Disk reserved for ops, a persistent volume created on it and
	// destroyed, the disk unreserved: each read back from GET_AGENTS.
	if err := c.volumes(ctx, agent); err != nil {
		return err
	}

	// The master's flags and metrics.
	if r, err = c.call(ctx, calls.GetFlags()); err != nil {
		return fmt.Errorf("GET_FLAGS: %w", err)
	}
	flags := map[string]string{}
	for _, f := range r.GetGetFlags().GetFlags() {
		flags[f.GetName()] = f.GetValue()
	}
	if flags["allocator"] == "" || flags["http"] == "" {
		return fmt.Errorf("GET_FLAGS: no allocator or http flag in %v", flags)
	}
	fmt.Println("GET_FLAGS allocator", flags["allocator"])
	var d time.Duration
	if r, err = c.call(ctx, calls.GetMetrics(&d)); err != nil || len(r.GetGetMetrics().GetMetrics()) == 0 {
		return fmt.Errorf("GET_METRICS: %v %v", r, err)
	}
	fmt.Println("GET_METRICS", len(r.GetGetMetrics().GetMetrics()), "metrics")

	// A maintenance window an hour away: the agent's machine is draining
	// until STOP_MAINTENANCE takes it out of the schedule.
	if r, err = c.call(ctx, calls.GetAgents()); err != nil || len(r.GetGetAgents().GetAgents()) != 1 {
		return fmt.Errorf("GET_AGENTS: %v %v", r, err)
	}
	host := r.GetGetAgents().GetAgents()[0].AgentInfo.Hostname
	machine := mesos.MachineID{Hostname: &host}
	window := maintenance.Window{MachineIDs: []mesos.MachineID{machine}, Unavailability: mesos.Unavailability{
		Start: mesos.TimeInfo{Nanoseconds: time.Now().Add(time.Hour).UnixNano()}, Duration: &mesos.DurationInfo{Nanoseconds: int64(time.Hour)}}}
	if _, err := c.call(ctx, calls.UpdateMaintenanceSchedule(maintenance.Schedule{Windows: []maintenance.Window{window}})); err != nil {
		return fmt.Errorf("UPDATE_MAINTENANCE_SCHEDULE: %w", err)
	}
	if r, err = c.call(ctx, calls.GetMaintenanceStatus()); err != nil || len(r.GetGetMaintenanceStatus().Status.DrainingMachines) != 1 {
		return fmt.Errorf("GET_MAINTENANCE_STATUS: want %s draining, got %v %v", host, r, err)
	}
	if _, err := c.call(ctx, calls.StopMaintenance(machine)); err != nil {
		return fmt.Errorf("STOP_MAINTENANCE: %w", err)
	}
	if r, err = c.call(ctx, calls.GetMaintenanceSchedule()); err != nil || len(r.GetGetMaintenanceSchedule().Schedule.Windows) != 0 {
		return fmt.Errorf("GET_MAINTENANCE_SCHEDULE after STOP_MAINTENANCE: want none, got %v %v", r, err)
	}
	fmt.Println("UPDATE_MAINTENANCE_SCHEDULE, GET_MAINTENANCE_STATUS", host, "draining, STOP_MAINTENANCE")

	// What Agora does not serve is refused by name.
	if _, err := c.call(ctx, calls.GetLoggingLevel()); err == nil || !strings.Contains(err.Error(), "GET_LOGGING_LEVEL") {
		return fmt.Errorf("GET_LOGGING_LEVEL: want a refusal naming it, got %v", err)
	}
	fmt.Println("GET_LOGGING_LEVEL refused")
	r, err = c.call(ctx, calls.GetHealth())
	if err != nil || !r.GetGetHealth().GetHealthy() {
		return fmt.Errorf("GET_HEALTH: %v %v", r, err)
	}
	if r, err = c.call(ctx, calls.GetMaster()); err != nil || r.GetGetMaster().GetMasterInfo().GetID() == "" {
		return fmt.Errorf("GET_MASTER: %v %v", r, err)
	}
	fmt.Println("GET_HEALTH healthy, GET_MASTER", r.GetGetMaster().GetMasterInfo().GetID())
	return nil
}

// volumes reserves 64 MiB of disk for ops on agent, creates a volume on
// it, destroys it and unreserves the disk, as an operator does before a
// stateful framework runs (Mesos' operator API; mesos-go's calls).
func (c *checker) volumes(ctx context.Context, agent mesos.AgentID) error {
	ops := "ops"
	resv := []mesos.Resource_ReservationInfo{{Type: mesos.Resource_ReservationInfo_DYNAMIC.Enum(), Role: &ops}}
	disk := mesos.Resource{Name: "disk", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 64}, Reservations: resv}
	volume := disk
	volume.Disk = &mesos.Resource_DiskInfo{Persistence: &mesos.Resource_DiskInfo_Persistence{ID: "opvol"},
		Volume: &mesos.Volume{Mode: mesos.RW.Enum(), ContainerPath: "data"}}
	// has reports whether the agent's resources hold ops' disk, and the
	// volume among it.
	has := func(r *master.Response) (reserved, vol bool) {
		for _, a := range r.GetGetAgents().GetAgents() {
			for _, res := range a.GetAgentInfo().Resources {
				// Either format: Mesos 1.4's reservations, or the
				// role and reservation of before (Agora's, to clients
				// without RESERVATION_REFINEMENT).
				role := res.GetRole()
				if n := len(res.Reservations); n > 0 {
					role = res.Reservations[n-1].GetRole()
				}
				if res.GetName() == "disk" && role == "ops" {
					reserved = true
					vol = vol || res.GetDisk().GetPersistence().GetID() == "opvol"
				}
			}
		}
		return reserved, vol
	}
	step := func(name string, call *master.Call, wantReserved, wantVol bool) error {
		if _, err := c.call(ctx, call); err != nil {
			return err
		}
		if _, err := c.until(ctx, calls.GetAgents(), func(r *master.Response) bool {
			reserved, vol := has(r)
			return reserved == wantReserved && vol == wantVol
		}); err != nil {
			return err
		}
		fmt.Printf("%s %s: reserved=%v volume=%v\n", name, agent.Value, wantReserved, wantVol)
		return nil
	}
	if err := step("RESERVE_RESOURCES", calls.ReserveResources(agent, disk), true, false); err != nil {
		return err
	}
	if err := step("CREATE_VOLUMES", calls.CreateVolumes(agent, volume), true, true); err != nil {
		return err
	}
	// A second volume of the same id is refused, naming why.
	if _, err := c.call(ctx, calls.CreateVolumes(agent, volume)); err == nil || !strings.Contains(err.Error(), "already exists") {
		return fmt.Errorf("CREATE_VOLUMES of an existing volume: want a refusal saying it exists, got %v", err)
	}
	if err := step("DESTROY_VOLUMES", calls.DestroyVolumes(agent, volume), true, false); err != nil {
		return err
	}
	return step("UNRESERVE_RESOURCES", calls.UnreserveResources(agent, disk), false, false)
}
