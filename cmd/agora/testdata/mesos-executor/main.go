// Command mesos-executor is a minimal Mesos custom executor for the process
// tests, built static (CGO_ENABLED=0) so that it runs in any image, busybox
// included. It speaks Mesos' v1 executor API in protobuf, as a Mesos
// executor library does: it subscribes at MESOS_AGENT_ENDPOINT, answers
// each LAUNCH with TASK_RUNNING, finishes a task once the file
// $MESOS_SANDBOX/finish-<task ID> exists, and exits 0 when told to shut
// down. With MESOS_CHECKPOINT=1 it outlives its agent: it subscribes again
// (every 200 ms, for MESOS_RECOVERY_TIMEOUT) with the tasks and updates
// the agent had not acknowledged; otherwise it exits 1 when it loses its
// agent. It logs to stderr what it saw.
package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	exec "github.com/agora-sched/agora/messages/mesos/v1/executor"
	"google.golang.org/protobuf/proto"
)

const media = "application/x-protobuf"

func main() {
	log.SetFlags(0)
	endpoint, fid, eid, sandbox := os.Getenv("MESOS_AGENT_ENDPOINT"), os.Getenv("MESOS_FRAMEWORK_ID"), os.Getenv("MESOS_EXECUTOR_ID"), os.Getenv("MESOS_SANDBOX")
	if endpoint == "" || fid == "" || eid == "" || sandbox == "" {
		log.Fatal("not started by an agent: MESOS_AGENT_ENDPOINT, MESOS_FRAMEWORK_ID, MESOS_EXECUTOR_ID and MESOS_SANDBOX must be set")
	}
	log.Printf("executor %s: sandbox %s, agent %s, directory %s", eid, sandbox, endpoint, os.Getenv("MESOS_DIRECTORY"))
	url := "http://" + endpoint + "/api/v1/executor"
	post := func(c *exec.Call) (*http.Response, error) {
		c.FrameworkId, c.ExecutorId = &mesos.FrameworkID{Value: proto.String(fid)}, &mesos.ExecutorID{Value: proto.String(eid)}
		body, err := proto.Marshal(c)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", media)
		req.Header.Set("Accept", media)
		res, err := http.DefaultClient.Do(req)
		if err == nil && res.StatusCode != http.StatusOK && res.StatusCode != http.StatusAccepted {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			return nil, fmt.Errorf("%s: %s", res.Status, b)
		}
		return res, err
	}
	checkpoint := os.Getenv("MESOS_CHECKPOINT") == "1"
	recovery, err := time.ParseDuration(strings.TrimSuffix(os.Getenv("MESOS_RECOVERY_TIMEOUT"), "ecs"))
	if checkpoint && err != nil {
		log.Fatalf("MESOS_RECOVERY_TIMEOUT %q: %v", os.Getenv("MESOS_RECOVERY_TIMEOUT"), err)
	}
	var mu sync.Mutex
	unackedTasks := map[string]*mesos.TaskInfo{}
	unackedUpdates := map[string]*exec.Call_Update{}
	update := func(task string, state mesos.TaskState) {
		uuid := make([]byte, 16)
		_, _ = rand.Read(uuid)
		u := &exec.Call_Update{Status: &mesos.TaskStatus{
			TaskId: &mesos.TaskID{Value: proto.String(task)}, State: state.Enum(), Uuid: uuid,
			Source: mesos.TaskStatus_SOURCE_EXECUTOR.Enum(), ExecutorId: &mesos.ExecutorID{Value: proto.String(eid)}}}
		unackedUpdates[string(uuid)] = u // resent with the next subscription until acknowledged
		res, err := post(&exec.Call{Type: exec.Call_UPDATE.Enum(), Update: u})
		if err != nil {
			log.Printf("update %s %s not sent: %v", task, state, err)
			return
		}
		res.Body.Close()
		log.Printf("update %s %s sent", task, state)
	}
	running := map[string]bool{}
	go func() {
		for range time.Tick(50 * time.Millisecond) {
			mu.Lock()
			for task := range running {
				if _, err := os.Stat(filepath.Join(sandbox, "finish-"+task)); err == nil {
					delete(running, task)
					update(task, mesos.TaskState_TASK_FINISHED)
				}
			}
			mu.Unlock()
		}
	}()
	lost := time.Now()
	for {
		mu.Lock()
		sub := &exec.Call_Subscribe{}
		for _, t := range unackedTasks {
			sub.UnacknowledgedTasks = append(sub.UnacknowledgedTasks, t)
		}
		for _, u := range unackedUpdates {
			sub.UnacknowledgedUpdates = append(sub.UnacknowledgedUpdates, u)
		}
		mu.Unlock()
		if res, err := post(&exec.Call{Type: exec.Call_SUBSCRIBE.Enum(), Subscribe: sub}); err != nil {
			log.Printf("subscription failed: %v", err)
		} else {
			log.Printf("subscribing with %d unacknowledged tasks and %d updates", len(sub.UnacknowledgedTasks), len(sub.UnacknowledgedUpdates))
			err := follow(bufio.NewReader(res.Body), func(ev *exec.Event) {
				mu.Lock()
				defer mu.Unlock()
				switch ev.GetType() {
				case exec.Event_SUBSCRIBED:
					log.Printf("SUBSCRIBED to agent %s", ev.GetSubscribed().GetAgentInfo().GetId().GetValue())
				case exec.Event_LAUNCH:
					t := ev.GetLaunch().GetTask()
					unackedTasks[t.GetTaskId().GetValue()] = t
					running[t.GetTaskId().GetValue()] = true
					update(t.GetTaskId().GetValue(), mesos.TaskState_TASK_RUNNING)
				case exec.Event_ACKNOWLEDGED:
					delete(unackedTasks, ev.GetAcknowledged().GetTaskId().GetValue())
					delete(unackedUpdates, string(ev.GetAcknowledged().GetUuid()))
				case exec.Event_SHUTDOWN:
					log.Print("SHUTDOWN")
					os.Exit(0)
				}
			})
			res.Body.Close()
			lost = time.Now()
			log.Printf("disconnected from the agent: %v", err)
		}
		if !checkpoint || time.Since(lost) > recovery {
			log.Print("giving up")
			os.Exit(1)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// follow hands each event of a subscription's stream to handle, until the
// stream ends.
func follow(r *bufio.Reader, handle func(*exec.Event)) error {
	for {
		ev, err := next(r)
		if err != nil {
			return err
		}
		handle(ev)
	}
}

// next reads one RecordIO record (its length in decimal, a newline, then
// that many bytes) and decodes it as an event.
func next(r *bufio.Reader) (*exec.Event, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(line[:len(line)-1])
	if err != nil || n < 0 || n > 16<<20 {
		return nil, errors.New("bad RecordIO length " + strconv.Quote(line))
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	ev := &exec.Event{}
	return ev, proto.Unmarshal(b, ev)
}
