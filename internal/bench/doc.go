// Package bench is dandan's load generator, behind `dandan bench`.
//
// Run signs up users on a target (or on a node it starts in-process in a
// temporary directory), creates rooms, opens one live connection per user
// and, for a fixed duration, has the chosen senders of every room keep a
// number of sends in flight (closed loop) or send at a fixed total rate (open
// loop). Every message text starts with its send time, so the receivers
// measure end-to-end latency. Before the load, a raw JetStream publish
// baseline is measured on a separate embedded broker with the same sync
// setting, so that the result says how much of the store's capacity the
// messenger delivers (Result.Ratio).
//
// RunIdle measures what an idle, authenticated and synced WebSocket session
// costs the server, from the node's Prometheus metrics.
//
//	res, err := bench.Run(ctx, bench.Config{Scenario: "1to1", Duration: 10 * time.Second}, os.Stderr)
//	res.WriteText(os.Stdout)
package bench
