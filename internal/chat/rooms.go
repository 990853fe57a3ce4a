package chat

import (
	"context"
	"strconv"
	"strings"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/client"
)

// RoomLabel is how a room is named to a person: a group's name, or
// "@handle" of the other member of a direct room.
func RoomLabel(r *api.Room) string {
	switch {
	case r == nil:
		return ""
	case r.Kind == api.RoomDirect && r.Peer != nil:
		return "@" + r.Peer.Handle
	case r.Name != "":
		return r.Name
	}
	return r.ID
}

// ResolveRoom finds the room a person means by ref: "@handle" is the direct
// room with that user (created the first time); otherwise a room id or a
// group name (case-insensitive) among rooms (fetched from the server if nil).
// A ref shaped like a room id and found nowhere is asked to the server, which
// answers forbidden for rooms the user is not in; other refs are not_found.
func ResolveRoom(ctx context.Context, c *client.Client, rooms []api.Room, ref string) (*api.Room, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil, api.Errorf(api.CodeInvalid, "room is empty")
	}
	if h, ok := strings.CutPrefix(ref, "@"); ok {
		return c.CreateDirect(ctx, h)
	}
	if rooms == nil {
		rs, err := c.Rooms(ctx)
		if err != nil {
			return nil, err
		}
		rooms = rs
	}
	for i := range rooms {
		if rooms[i].ID == ref {
			return &rooms[i], nil
		}
	}
	var found []*api.Room
	for i := range rooms {
		if strings.EqualFold(rooms[i].Name, ref) && rooms[i].Kind == api.RoomGroup {
			found = append(found, &rooms[i])
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return nil, api.Errorf(api.CodeInvalid, "%d rooms are named %q: use the room id", len(found), ref)
	case looksLikeRoomID(ref):
		return c.Room(ctx, ref)
	}
	return nil, api.Errorf(api.CodeNotFound, "you have no room named %q", ref)
}

// members is "1 member" or "N members".
func members(n int) string {
	if n == 1 {
		return "1 member"
	}
	return strconv.Itoa(n) + " members"
}

// looksLikeRoomID reports whether ref has the shape of a server-assigned
// room id: "r…" (groups) or "p…" (direct rooms), long and lower-case.
func looksLikeRoomID(ref string) bool {
	return len(ref) >= 12 && (ref[0] == 'r' || ref[0] == 'p') && api.ValidID(ref)
}
