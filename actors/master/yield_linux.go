//go:build linux

package master

import "golang.org/x/sys/unix"

// yieldCPU lets a thread the kernel queued behind this one on its CPU run
// now (sched_yield). When the master sends an Offers message, the thread
// that is to write it (or, in one process, to run the framework's actor)
// is woken, and where the kernel sees no cache shared between CPUs, as on
// small virtual machines, it queues the woken thread on the waker's CPU:
// there it waited behind the master, building the next message, for up to
// a scheduler tick while the other CPU idled (4-8 ms at HZ=250, traced;
// docs/benchmarks.md, session 17). Raw: it returns at once, and the
// goroutine keeps its P meanwhile.
func yieldCPU() { _, _, _ = unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }
