// Package chat is dandan's interactive terminal client: a line-based UI (no
// full-screen drawing) that shows the live traffic of every room the user is
// in and sends what the user types to the current room.
//
// Run drives one session. With Options.Terminal it edits lines with
// golang.org/x/term (history, prompt kept below incoming messages); without
// it, input is read line by line and output written line by line, so tests
// and scripts can drive it through pipes.
//
// The package also renders events for other clients (Renderer) and resolves
// user ids to handles with a small cache (Names); the dandan command line
// uses both for `dandan history`.
package chat
