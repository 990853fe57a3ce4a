// Package client is the Go SDK of dandan: a typed client for the HTTP API and
// a live WebSocket connection that reconnects, resumes and resends by itself.
//
// The protocol it speaks is described in docs/protocol.md; the wire types are
// those of package api. Errors returned by the server are *api.Error, so
// callers branch on codes:
//
//	if api.IsCode(err, api.CodeForbidden) { ... }
//
// # HTTP
//
//	c, err := client.New(client.Options{Servers: []string{"http://127.0.0.1:8080", "http://127.0.0.1:8081"}})
//	if err != nil { ... }
//	if _, err := c.SignIn(ctx, api.SignInRequest{Handle: "alice", Password: "correct horse"}); err != nil { ... }
//	room, err := c.CreateDirect(ctx, "bob")
//	ack, err := c.Send(ctx, room.ID, "hello")          // idempotent: a client id is generated
//	page, err := c.History(ctx, room.ID, client.HistoryQuery{Limit: 50})
//
// When a request fails with a network error (not an error response), it is
// retried once on the next server of Options.Servers. Sends, edits and
// deletions carry the same client id on that retry, so they are stored once;
// other non-idempotent requests (e.g. CreateGroup) may, rarely, be applied twice.
//
// A busy server refuses work before doing any of it, with the code
// api.CodeOverloaded (or api.CodeRateLimited) and a retry_after_ms. Such a
// request, whatever its method, is retried on the same server after that wait
// plus jitter (100ms if none was given), up to Options.OverloadRetries times
// (4 by default); the refusal is returned at once when the wait would outlast
// ctx's deadline. Other errors (e.g. api.CodeUnavailable) are not retried.
//
// # Live
//
//	live, err := c.Live(ctx, client.LiveOptions{Cursors: saved})
//	if err != nil { ... }            // e.g. api.CodeUnauthorized: sign in again
//	defer live.Close()
//	go func() {
//		for u := range live.Updates() {
//			if u.Kind == client.EventUpdate {
//				fmt.Println(u.Event.Room, u.Event.Seq, u.Event.Text)
//			}
//		}
//	}()
//	ack, err := live.Send(ctx, room.ID, "hi")
//	saved = live.Cursors()           // persist to resume later without gaps
//
// A Live keeps, per room, the last seq delivered on Updates (its cursor) and an
// outbox of every send, edit and deletion not yet answered. After any broken
// connection it reconnects (round-robin over the servers, with jittered
// exponential backoff), sends sync with its cursors and resends the outbox with
// the same client ids: nothing is lost and nothing is delivered or stored twice.
// A send written on a connection that stays unanswered for AckTimeout breaks
// it (the Disconnected update's Err is ErrAckTimeout); Pending.Attempts tells
// how many times a send was written and when last.
//
// A busy server may also refuse frames for load (api.CodeOverloaded,
// api.CodeRateLimited, … with a retry_after_ms), before doing anything: the
// connection stays open and the Live sends the refused frame again after the
// wait asked plus jitter, as many times as needed. This holds for sends,
// edits and deletions (same client id), for the sync (rebuilt from the
// cursors of that time; until it is admitted the connection is not synced and
// no event arrives) and for receipts (the room's pointers, merged with any
// newer ones, are held until the wait is over). Each such refusal is told by
// a Refused update, dropped if Updates is full: a hint for user interfaces,
// nothing needs doing. Refused typing notices are dropped. A sync failing with
// any other error breaks the connection, which is then re-established.
//
// Updates must be drained: when its buffer is full the Live stops reading the
// socket until there is room (the server may then drop the connection as a slow
// consumer, which the Live recovers from). Do not wait for a send's ack in the
// only goroutine that reads Updates.
//
// A busy consumer (a bot, a bridge, a load generator) may instead set
// LiveOptions.Handler: every update is then handed to it on the Live's own
// goroutines, one call at a time and in order, without a channel and a
// goroutine switch per update. It holds up reading the connection while it
// runs (a long call is not taken for a broken connection), so it must return
// quickly, and must not wait for a send's ack or call Close.
package client
