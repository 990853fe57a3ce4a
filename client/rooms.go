package client

import (
	"context"
	"net/http"

	"github.com/dandanchat/dandan/api"
)

// CreateDirect returns the direct room with user (handle or id), creating it
// the first time.
func (c *Client) CreateDirect(ctx context.Context, user string) (*api.Room, error) {
	if user == "" {
		return nil, api.Errorf(api.CodeInvalid, "user is empty")
	}
	var r api.Room
	err := c.do(ctx, request{method: http.MethodPost, path: "/v1/direct", in: api.CreateDirectRequest{User: user}, out: &r})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// CreateGroup creates a group room with the caller as admin and the given
// members (handles or ids).
func (c *Client) CreateGroup(ctx context.Context, name string, members []string) (*api.Room, error) {
	if e := api.CheckName("room name", name, api.MaxRoomNameBytes); e != nil {
		return nil, e
	}
	var r api.Room
	err := c.do(ctx, request{method: http.MethodPost, path: "/v1/rooms", in: api.CreateGroupRequest{Name: name, Members: members}, out: &r})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// Rooms lists the caller's rooms.
func (c *Client) Rooms(ctx context.Context) ([]api.Room, error) {
	var rs []api.Room
	if err := c.do(ctx, request{method: http.MethodGet, path: "/v1/rooms", out: &rs}); err != nil {
		return nil, err
	}
	return rs, nil
}

// Room returns one room's summary.
func (c *Client) Room(ctx context.Context, roomID string) (*api.Room, error) {
	p, err := roomPath(roomID, "")
	if err != nil {
		return nil, err
	}
	var r api.Room
	if err := c.do(ctx, request{method: http.MethodGet, path: p, out: &r}); err != nil {
		return nil, err
	}
	return &r, nil
}

// RenameRoom renames a group room.
func (c *Client) RenameRoom(ctx context.Context, roomID, name string) (*api.Room, error) {
	p, err := roomPath(roomID, "")
	if err != nil {
		return nil, err
	}
	if e := api.CheckName("room name", name, api.MaxRoomNameBytes); e != nil {
		return nil, e
	}
	var r api.Room
	if err := c.do(ctx, request{method: http.MethodPatch, path: p, in: api.RenameRequest{Name: name}, out: &r}); err != nil {
		return nil, err
	}
	return &r, nil
}

// Members lists a room's members.
func (c *Client) Members(ctx context.Context, roomID string) ([]api.Member, error) {
	p, err := roomPath(roomID, "/members")
	if err != nil {
		return nil, err
	}
	var ms []api.Member
	if err := c.do(ctx, request{method: http.MethodGet, path: p, out: &ms}); err != nil {
		return nil, err
	}
	return ms, nil
}

// Invite adds users (handles or ids) to a group room and returns the members added.
func (c *Client) Invite(ctx context.Context, roomID string, users []string) ([]api.Member, error) {
	p, err := roomPath(roomID, "/members")
	if err != nil {
		return nil, err
	}
	switch {
	case len(users) == 0:
		return nil, api.Errorf(api.CodeInvalid, "no user to invite")
	case len(users) > api.MaxInvite:
		return nil, api.Errorf(api.CodeTooLarge, "at most %d users per invitation", api.MaxInvite)
	}
	var ms []api.Member
	if err := c.do(ctx, request{method: http.MethodPost, path: p, in: api.InviteRequest{Users: users}, out: &ms}); err != nil {
		return nil, err
	}
	return ms, nil
}

// RemoveMember removes a member (an admin's right; removing oneself is leaving).
func (c *Client) RemoveMember(ctx context.Context, roomID, userID string) error {
	p, err := roomPath(roomID, "/members/")
	if err != nil {
		return err
	}
	u, err := seg("user id", userID)
	if err != nil {
		return err
	}
	return c.do(ctx, request{method: http.MethodDelete, path: p + u})
}

// Leave leaves a group room.
func (c *Client) Leave(ctx context.Context, roomID string) error {
	p, err := roomPath(roomID, "/leave")
	if err != nil {
		return err
	}
	return c.do(ctx, request{method: http.MethodPost, path: p})
}

func roomPath(roomID, suffix string) (string, error) {
	r, err := seg("room id", roomID)
	if err != nil {
		return "", err
	}
	return "/v1/rooms/" + r + suffix, nil
}
