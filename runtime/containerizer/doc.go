// Package containerizer runs tasks on an agent: containerizers that launch a
// task's process in its sandbox, wait for it, and kill it with a grace
// period. The agent actor calls them off its own goroutine, with a context
// that ends when the agent stops, and gets the outcome back as a message.
//
// Goroutines: every call that takes a context returns once it is done.
// What follows a container for its whole life (Command's reaping of its
// child, Docker's log copy and wait) belongs to the container and ends
// with it, or, for Docker, when Docker.Close is called.
package containerizer
