package agent

import (
	"container/heap"
	"time"
)

// gcQueue is the finished sandboxes waiting for their removal, earliest
// first. The agent keeps one timer, for the earliest (agent.gcArmed):
// a timer per sandbox, for Mesos' week, was a runtime timer and a
// closure held for every task the agent finished that week, 600,000 of
// them for a task a second.
type gcQueue []gcEntry

type gcEntry struct {
	due time.Time
	dir string
}

func (q gcQueue) Len() int           { return len(q) }
func (q gcQueue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q gcQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *gcQueue) Push(x any)        { *q = append(*q, x.(gcEntry)) }
func (q *gcQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// add queues dir for removal at due.
func (q *gcQueue) add(dir string, due time.Time) { heap.Push(q, gcEntry{due: due, dir: dir}) }

// popDue takes the sandboxes due at now, earliest first.
func (q *gcQueue) popDue(now time.Time) []string {
	var dirs []string
	for q.Len() > 0 && !(*q)[0].due.After(now) {
		dirs = append(dirs, heap.Pop(q).(gcEntry).dir)
	}
	return dirs
}

// next is when the earliest sandbox left is due; false: none left.
func (q gcQueue) next() (time.Time, bool) {
	if len(q) == 0 {
		return time.Time{}, false
	}
	return q[0].due, true
}
