// Package api defines dandan's wire protocol: the JSON bodies of the HTTP API,
// the frames exchanged over the WebSocket, the stored room events, the limits
// every request must respect and the stable error codes.
//
// The server (internal/...) and the Go SDK (package client) both speak in these
// types, so a change here is a protocol change: keep it backwards compatible.
// docs/protocol.md describes the same protocol for other languages, and
// docs/openapi.yaml describes the HTTP part machine-readably.
package api
