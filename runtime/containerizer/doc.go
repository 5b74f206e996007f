// Package containerizer runs tasks on an agent: containerizers that launch a
// task's process in its sandbox, wait for it, and kill it with a grace
// period. The agent actor calls them off its own goroutine and gets the
// outcome back as a message.
package containerizer
