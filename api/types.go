package api

// User is a person's public profile.
type User struct {
	ID          string `json:"id"`
	Handle      string `json:"handle"`
	DisplayName string `json:"display_name,omitempty"`
}

// Me is the signed-in user's own profile, with private fields.
type Me struct {
	User
	Phone   string `json:"phone,omitempty"`
	Created int64  `json:"created"` // unix milliseconds
}

// Device is one signed-in device of a user; each has its own token.
type Device struct {
	ID       string `json:"id"`
	Name     string `json:"name,omitempty"`
	Created  int64  `json:"created"`   // unix milliseconds
	LastSeen int64  `json:"last_seen"` // unix milliseconds, refreshed every few minutes of use
	Current  bool   `json:"current,omitempty"`
}

// SignUpRequest is the body of POST /v1/signup.
type SignUpRequest struct {
	Handle      string `json:"handle"`
	Password    string `json:"password"`
	DisplayName string `json:"display_name,omitempty"`
	Phone       string `json:"phone,omitempty"`
	DeviceName  string `json:"device_name,omitempty"`
}

// SignInRequest is the body of POST /v1/signin.
type SignInRequest struct {
	Handle     string `json:"handle"`
	Password   string `json:"password"`
	DeviceName string `json:"device_name,omitempty"`
}

// Session is returned by sign-up and sign-in. Token authenticates this device
// only; it is shown once and stored by the server only as a hash.
type Session struct {
	User   Me     `json:"user"`
	Device Device `json:"device"`
	Token  string `json:"token"`
}

// Room kinds.
const (
	RoomDirect = "direct" // exactly two members, one room per pair
	RoomGroup  = "group"
)

// Member roles.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// Room describes a room as seen by one member.
type Room struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"`
	Name      string `json:"name,omitempty"`
	Created   int64  `json:"created"` // unix milliseconds
	LastSeq   uint64 `json:"last_seq"`
	Members   int    `json:"members"`
	Role      string `json:"role,omitempty"`
	Read      uint64 `json:"read"`           // the caller's read pointer
	Delivered uint64 `json:"delivered"`      // the caller's delivered pointer
	Unread    uint64 `json:"unread"`         // messages from others after Read
	Peer      *User  `json:"peer,omitempty"` // for direct rooms: the other member
	// Last is the room's last event (its Seq is LastSeq) when the node has
	// it at hand, so that a room list can show it without reading the
	// history; it may be left out.
	Last *Event `json:"last,omitempty"`
}

// Member is one member of a room.
type Member struct {
	User
	Role   string `json:"role"`
	Joined int64  `json:"joined"` // unix milliseconds
}

// CreateGroupRequest is the body of POST /v1/rooms. Members are handles or
// user ids; the creator is added as admin.
type CreateGroupRequest struct {
	Name    string   `json:"name"`
	Members []string `json:"members,omitempty"`
}

// CreateDirectRequest is the body of POST /v1/direct: the other user, by
// handle or id. Creating the same pair twice returns the same room.
type CreateDirectRequest struct {
	User string `json:"user"`
}

// RenameRequest is the body of PATCH /v1/rooms/{room}.
type RenameRequest struct {
	Name string `json:"name"`
}

// InviteRequest is the body of POST /v1/rooms/{room}/members.
type InviteRequest struct {
	Users []string `json:"users"`
}

// SendRequest is the body of POST /v1/rooms/{room}/messages, and (with Room
// set) the payload of a "send" frame. ID is chosen by the client and makes the
// send idempotent: sending the same ID again returns the first Ack.
type SendRequest struct {
	ID      string `json:"id"`
	Room    string `json:"room,omitempty"`
	Text    string `json:"text"`
	ReplyTo uint64 `json:"reply_to,omitempty"`
}

// EditRequest is the body of PATCH /v1/rooms/{room}/messages/{seq}.
type EditRequest struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

// Ack acknowledges a stored event: it is durable (see docs/durability.md)
// and has its place Seq in the room. Duplicate is set when the client id had
// already been stored and this Ack repeats the first one.
type Ack struct {
	ID        string `json:"id"`
	Room      string `json:"room"`
	Seq       uint64 `json:"seq"`
	Time      int64  `json:"ts"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// Event types.
const (
	EventMessage       = "message"
	EventEdit          = "edit"
	EventDelete        = "delete"
	EventRoomCreated   = "room.created"
	EventRoomRenamed   = "room.renamed"
	EventMemberJoined  = "member.joined"
	EventMemberLeft    = "member.left"
	EventMemberRemoved = "member.removed"
)

// Event is one entry of a room's sequence, as stored and as delivered. Seq
// numbers are assigned by the server: 1, 2, 3… per room, with no gaps.
type Event struct {
	Room     string `json:"room"`
	Seq      uint64 `json:"seq"`
	Type     string `json:"type"`
	Sender   string `json:"sender"`              // user id of who caused it
	ClientID string `json:"client_id,omitempty"` // the sender's idempotency id
	Time     int64  `json:"ts"`                  // unix milliseconds, server clock
	Text     string `json:"text,omitempty"`      // message, edit
	ReplyTo  uint64 `json:"reply_to,omitempty"`  // message: the seq replied to
	Target   uint64 `json:"target,omitempty"`    // edit, delete: the seq changed
	User     string `json:"user,omitempty"`      // member.*: the member concerned
	Name     string `json:"name,omitempty"`      // room.created, room.renamed
	Kind     string `json:"kind,omitempty"`      // room.created: the room kind
	// Deleted is set on a message, in history and catch-up, once a later
	// delete event removed it; its text is then withheld.
	Deleted bool `json:"deleted,omitempty"`
}

// Page is a page of a room's history, in ascending Seq order. HasMore says
// whether more events lie beyond the page in the direction asked.
type Page struct {
	Events  []Event `json:"events"`
	HasMore bool    `json:"has_more"`
}

// ReceiptRequest is the body of POST /v1/rooms/{room}/receipts and, with Room
// set, the payload of a "receipt" frame. Pointers only move forward; a zero
// field is left unchanged.
type ReceiptRequest struct {
	Room      string `json:"room,omitempty"`
	Delivered uint64 `json:"delivered,omitempty"`
	Read      uint64 `json:"read,omitempty"`
}

// Receipt is one member's pointers in a room.
type Receipt struct {
	Room      string `json:"room"`
	User      string `json:"user"`
	Delivered uint64 `json:"delivered"`
	Read      uint64 `json:"read"`
}

// Cluster is the answer of GET /v1/cluster: every node clients can use, so
// that a client that knows one address learns the others and can move to
// another site when its own fails. It needs no sign-in.
type Cluster struct {
	Node  string        `json:"node"` // the node that answered
	DC    string        `json:"dc,omitempty"`
	Nodes []ClusterNode `json:"nodes"`
	// Partitions lists each message stream's current leader, for operators
	// and drills; empty on a single node.
	Partitions []Partition `json:"partitions,omitempty"`
}

// ClusterNode is one node. Up is false when it has not announced itself for
// a while (it may be down, or cut off from the others).
type ClusterNode struct {
	Name string `json:"name"`
	DC   string `json:"dc,omitempty"`
	URL  string `json:"url"`
	Up   bool   `json:"up"`
}

// Partition is one message stream and the node leading it ("" while it
// elects one).
type Partition struct {
	Stream string `json:"stream"`
	Leader string `json:"leader"`
}
