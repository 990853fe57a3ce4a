package client

import (
	"strconv"

	"github.com/dandanchat/dandan/api"
)

// UpdateKind says what an Update carries.
type UpdateKind int

// The kinds of Update.
const (
	// Connected: a connection is ready and sync was sent. User is the user
	// id, Server the server it is connected to (another one than before
	// means the client moved to another site).
	Connected UpdateKind = iota + 1
	// Disconnected: the connection broke (Err says why); the Live reconnects by
	// itself unless Err is unauthorized, in which case Updates is closed next.
	Disconnected
	// Synced: the catch-up asked by sync is complete; events are live from here.
	Synced
	// EventUpdate: Event is the next event of its room (seq above the cursor).
	EventUpdate
	// RoomUpdate: Room is a room summary (on sync, on join, on change).
	RoomUpdate
	// Left: the user is no longer a member of RoomID.
	Left
	// ReceiptUpdate: Receipt is a member's new delivered/read pointers.
	ReceiptUpdate
	// Typing: User is typing in RoomID. Ephemeral; dropped if Updates is full.
	Typing
	// Refused: the server refused a frame for now (Err is its *api.Error,
	// e.g. overloaded or rate_limited; Err.RetryAfter() is the wait it asked
	// for) and the Live sends it again by itself after that wait. Ref is the
	// frame's type ("send", "edit", "delete", "sync" or "receipt"), ID the
	// client id of a send, edit or deletion, RoomID its room or the receipt's.
	// A hint for user interfaces ("server busy, retrying in 2 s"): nothing is
	// lost and nothing is to be done. Ephemeral; dropped if Updates is full.
	Refused
)

var kindNames = [...]string{"", "connected", "disconnected", "synced", "event", "room", "left", "receipt", "typing", "refused"}

func (k UpdateKind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "UpdateKind(" + strconv.Itoa(int(k)) + ")"
}

// Update is one item of Live.Updates. Kind says which fields are set.
type Update struct {
	Kind    UpdateKind
	Event   *api.Event
	Room    *api.Room
	RoomID  string // Left, Typing, Refused
	User    string // Connected (the signed-in user), Typing (who types)
	Receipt *api.Receipt
	Err     error  // Disconnected, Refused (an *api.Error)
	Server  string // Connected
	Ref     string // Refused: the type of the refused frame
	ID      string // Refused: the client id of a refused send, edit or deletion
}
