package scheduler

import (
	"github.com/agora-sched/agora/messages"
)

// Resources parses Mesos' text syntax, such as "cpus:0.5;mem:64", and
// panics on a malformed string: it is meant for constants in framework
// code. Use messages.ParseResources for input.
func Resources(text string) []*messages.Resource {
	rs, err := messages.ParseResources(text)
	if err != nil {
		panic(err)
	}
	return rs
}

// Sum adds resource lists up.
func Sum(lists ...[]*messages.Resource) []*messages.Resource { return messages.SumResources(lists...) }

// Fits reports whether want fits in have.
func Fits(have, want []*messages.Resource) bool { return messages.ContainsResources(have, want) }

// Subtract returns have minus want (want must fit).
func Subtract(have, want []*messages.Resource) []*messages.Resource {
	return messages.SubtractResources(have, want)
}

// OfferIDs lists the IDs of offers.
func OfferIDs(offers []*messages.Offer) []*messages.OfferID {
	ids := make([]*messages.OfferID, len(offers))
	for i, o := range offers {
		ids[i] = o.Id
	}
	return ids
}

// Command builds a shell command task.
func Command(taskID, shell string, resources []*messages.Resource) *messages.TaskInfo {
	return &messages.TaskInfo{
		Name: taskID, TaskId: &messages.TaskID{Value: taskID}, Resources: resources,
		Command: &messages.CommandInfo{Value: shell, Shell: true},
	}
}
