// Package mastership runs a master node's side of leadership: it campaigns
// with a leader.Contender, leads while elected (the term's master and
// allocator actors), steps down the moment the term ends, stands by in
// between (a standby actor holds the master's name and answers
// Error{NOT_LEADER} naming the leader), and serves the node's HTTP API while
// leading or redirects (307) to the leader.
//
//	seat := mastership.New(mastership.Config{System: sys, Info: info, Term: buildTerm, Standby: true})
//	go seat.Run(ctx, contender, detector) // campaign, lead, step down, again
//	http.Serve(ln, seat.Handler(api, metrics))
//
// A single master without election calls Lead(1) once instead of Run.
//
// Stepping down is immediate where it matters: the node stops answering
// its HTTP API as leader, and a fence drops everything the term's actors
// send from that instant, before the actors are stopped (a master blocked
// in a call cannot send once it returns). agora_master_messages_sent_total
// counts what the leading actors sent; it does not grow after a step-down.
package mastership
