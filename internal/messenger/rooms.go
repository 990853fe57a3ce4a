package messenger

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"sort"
	"strings"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/auth"
	"github.com/dandanchat/dandan/internal/store"
	"github.com/nats-io/nats.go/jetstream"
)

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// directRoomID is the one room of a pair of users, whatever its order.
func directRoomID(a, b string) string {
	if a > b {
		a, b = b, a
	}
	sum := sha256.Sum256([]byte(a + ":" + b))
	return "p" + lowerBase32.EncodeToString(sum[:15])
}

// CreateDirect returns the direct room of the caller and another user,
// creating it the first time.
func (s *Service) CreateDirect(ctx context.Context, c Caller, other string) (*api.Room, error) {
	peer, err := s.resolveUser(ctx, other)
	if err != nil {
		return nil, err
	}
	if peer.ID == c.User {
		return nil, api.Errorf(api.CodeInvalid, "a direct room needs another user")
	}
	id := directRoomID(c.User, peer.ID)
	if s.ix.IsMember(id, c.User) && s.ix.IsMember(id, peer.ID) {
		// It exists: a read, which any replica answers, even while the
		// rooms bucket elects a new leader after a data centre is lost.
		return s.Room(ctx, c, id)
	}
	rec := store.RoomRecord{ID: id, Kind: api.RoomDirect, Created: s.now(), CreatedBy: c.User}
	_, err = store.CreateJSON(ctx, s.st.Rooms, id, rec)
	created := err == nil
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return nil, s.unavailable("create room", err)
	}
	// Both memberships are (re)asserted either way, so a creation that was
	// interrupted half-way completes on the next call.
	for _, u := range []string{c.User, peer.ID} {
		if err := s.addMember(ctx, id, u, api.RoleMember); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, s.unavailable("add member", err)
		}
	}
	if created {
		if _, err := s.appendAnywhere(ctx, &api.Event{Room: id, Type: api.EventRoomCreated, Sender: c.User,
			Kind: api.RoomDirect, ClientID: "created"}); err != nil {
			return nil, err
		}
	}
	return s.Room(ctx, c, id)
}

// CreateGroup creates a group with the caller as admin and invites members.
func (s *Service) CreateGroup(ctx context.Context, c Caller, r api.CreateGroupRequest) (*api.Room, error) {
	r.Name = strings.TrimSpace(r.Name)
	if r.Name == "" {
		return nil, api.Errorf(api.CodeInvalid, "a group needs a name")
	}
	if err := api.CheckName("room name", r.Name, api.MaxRoomNameBytes); err != nil {
		return nil, err
	}
	if len(r.Members) > api.MaxInvite {
		return nil, api.Errorf(api.CodeTooLarge, "invite at most %d users at once", api.MaxInvite)
	}
	if len(r.Members)+1 > s.cfg.MaxRoomMembers {
		return nil, api.Errorf(api.CodeRoomFull, "a room has at most %d members", s.cfg.MaxRoomMembers)
	}
	invitees, err := s.resolveUsers(ctx, r.Members)
	if err != nil {
		return nil, err
	}
	id := auth.NewID('r')
	rec := store.RoomRecord{ID: id, Kind: api.RoomGroup, Name: r.Name, Created: s.now(), CreatedBy: c.User}
	if _, err := store.CreateJSON(ctx, s.st.Rooms, id, rec); err != nil {
		return nil, s.unavailable("create room", err)
	}
	if err := s.addMember(ctx, id, c.User, api.RoleAdmin); err != nil {
		return nil, s.unavailable("add member", err)
	}
	if _, err := s.appendAnywhere(ctx, &api.Event{Room: id, Type: api.EventRoomCreated, Sender: c.User,
		Kind: api.RoomGroup, Name: r.Name, ClientID: "created"}); err != nil {
		return nil, err
	}
	if _, err := s.invite(ctx, c, id, invitees); err != nil {
		return nil, err
	}
	return s.Room(ctx, c, id)
}

func (s *Service) resolveUsers(ctx context.Context, refs []string) ([]store.UserRecord, error) {
	seen := make(map[string]bool, len(refs))
	var out []store.UserRecord
	for _, ref := range refs {
		u, err := s.resolveUser(ctx, ref)
		if err != nil {
			if api.IsCode(err, api.CodeNotFound) {
				return nil, api.Errorf(api.CodeNotFound, "no such user: %q", truncate(ref, 40))
			}
			return nil, err
		}
		if !seen[u.ID] {
			seen[u.ID] = true
			out = append(out, u)
		}
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// addMember creates a membership and waits (briefly) until this node's read
// model shows it, so that the caller's next request sees it.
func (s *Service) addMember(ctx context.Context, roomID, user, role string) error {
	rev, err := store.CreateJSON(ctx, s.st.Members, store.MemberKey(roomID, user),
		store.MemberRecord{Role: role, Joined: s.now()})
	if err == nil {
		wctx, cancel := context.WithTimeout(ctx, waitIndex)
		s.ix.WaitMembers(wctx, rev)
		cancel()
	}
	return err
}

// Invite adds users to a group the caller is a member of.
func (s *Service) Invite(ctx context.Context, c Caller, roomID string, refs []string) ([]api.Member, error) {
	if len(refs) > api.MaxInvite {
		return nil, api.Errorf(api.CodeTooLarge, "invite at most %d users at once", api.MaxInvite)
	}
	rec, err := s.group(ctx, c, roomID)
	if err != nil {
		return nil, err
	}
	users, err := s.resolveUsers(ctx, refs)
	if err != nil {
		return nil, err
	}
	return s.invite(ctx, c, rec.ID, users)
}

func (s *Service) invite(ctx context.Context, c Caller, roomID string, users []store.UserRecord) ([]api.Member, error) {
	current := len(s.ix.Members(roomID))
	added := []api.Member{}
	for _, u := range users {
		if s.ix.IsMember(roomID, u.ID) {
			continue
		}
		if current+1 > s.cfg.MaxRoomMembers {
			return added, api.Errorf(api.CodeRoomFull, "a room has at most %d members", s.cfg.MaxRoomMembers)
		}
		err := s.addMember(ctx, roomID, u.ID, api.RoleMember)
		if errors.Is(err, jetstream.ErrKeyExists) {
			continue
		}
		if err != nil {
			return added, s.unavailable("add member", err)
		}
		current++
		if _, err := s.appendAnywhere(ctx, &api.Event{Room: roomID, Type: api.EventMemberJoined, Sender: c.User,
			User: u.ID, ClientID: "join-" + u.ID + "-" + auth.NewID('j')}); err != nil {
			return added, err
		}
		added = append(added, api.Member{User: public(u), Role: api.RoleMember, Joined: s.now()})
	}
	return added, nil
}

// RemoveMember removes a user from a group: an admin may remove anyone; any
// member may remove themselves (leave).
func (s *Service) RemoveMember(ctx context.Context, c Caller, roomID, user string) error {
	if user == c.User {
		return s.Leave(ctx, c, roomID)
	}
	if _, err := s.group(ctx, c, roomID); err != nil {
		return err
	}
	if m, _ := s.ix.Member(roomID, c.User); m.Role != api.RoleAdmin {
		return api.Errorf(api.CodeForbidden, "only an admin can remove members")
	}
	if !s.ix.IsMember(roomID, user) {
		return api.Errorf(api.CodeNotFound, "that user is not a member")
	}
	return s.removeMember(ctx, c, roomID, user, api.EventMemberRemoved)
}

// Leave removes the caller from a group. If they were its last admin, the
// longest-standing remaining member becomes admin.
func (s *Service) Leave(ctx context.Context, c Caller, roomID string) error {
	if _, err := s.group(ctx, c, roomID); err != nil {
		return err
	}
	members := s.ix.Members(roomID)
	if members[c.User].Role == api.RoleAdmin {
		var heir string
		var joined int64
		for u, m := range members {
			if u == c.User {
				continue
			}
			if m.Role == api.RoleAdmin {
				heir = ""
				break
			}
			if heir == "" || m.Joined < joined || m.Joined == joined && u < heir {
				heir, joined = u, m.Joined
			}
		}
		if heir != "" {
			if err := store.PutJSON(ctx, s.st.Members, store.MemberKey(roomID, heir),
				store.MemberRecord{Role: api.RoleAdmin, Joined: joined}); err != nil {
				return s.unavailable("promote admin", err)
			}
		}
	}
	return s.removeMember(ctx, c, roomID, c.User, api.EventMemberLeft)
}

func (s *Service) removeMember(ctx context.Context, c Caller, roomID, user, evType string) error {
	// The event first, while the user is still a member and so receives it.
	if _, err := s.appendAnywhere(ctx, &api.Event{Room: roomID, Type: evType, Sender: c.User, User: user,
		ClientID: "out-" + user + "-" + auth.NewID('j')}); err != nil {
		return err
	}
	if err := s.st.Members.Purge(ctx, store.MemberKey(roomID, user)); err != nil {
		return s.unavailable("remove member", err)
	}
	// Answer only once this node refuses the removed user.
	wctx, cancel := context.WithTimeout(ctx, waitIndex)
	s.ix.WaitNotMember(wctx, roomID, user)
	cancel()
	return nil
}

// group loads a group room the caller is a member of.
func (s *Service) group(ctx context.Context, c Caller, roomID string) (store.RoomRecord, error) {
	if err := s.authorize(ctx, roomID, c.User); err != nil {
		return store.RoomRecord{}, err
	}
	var rec store.RoomRecord
	if _, err := s.st.GetJSON(ctx, s.st.Rooms, roomID, &rec); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return rec, errNotMember
		}
		return rec, s.unavailable("get room", err)
	}
	if rec.Kind != api.RoomGroup {
		return rec, api.Errorf(api.CodeConflict, "direct rooms have exactly their two members")
	}
	return rec, nil
}

// Rename renames a group.
func (s *Service) Rename(ctx context.Context, c Caller, roomID, name string) (*api.Room, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, api.Errorf(api.CodeInvalid, "a group needs a name")
	}
	if err := api.CheckName("room name", name, api.MaxRoomNameBytes); err != nil {
		return nil, err
	}
	if _, err := s.group(ctx, c, roomID); err != nil {
		return nil, err
	}
	if _, err := store.UpdateJSON(ctx, s.st.Rooms, roomID, func(r *store.RoomRecord, ok bool) bool {
		if !ok {
			return false
		}
		r.Name = name
		return true
	}); err != nil {
		return nil, s.unavailable("rename", err)
	}
	if _, err := s.appendAnywhere(ctx, &api.Event{Room: roomID, Type: api.EventRoomRenamed, Sender: c.User,
		Name: name, ClientID: "rename-" + auth.NewID('j')}); err != nil {
		return nil, err
	}
	r, err := s.Room(ctx, c, roomID)
	if err == nil {
		r.Name = name // the read model may not have the new name yet
	}
	return r, err
}

// Members lists a room's members.
func (s *Service) Members(ctx context.Context, c Caller, roomID string) ([]api.Member, error) {
	if err := s.authorize(ctx, roomID, c.User); err != nil {
		return nil, err
	}
	members := s.ix.Members(roomID)
	out := make([]api.Member, 0, len(members))
	for id, m := range members {
		u, err := s.userByID(ctx, id)
		if err != nil {
			u = store.UserRecord{ID: id}
		}
		out = append(out, api.Member{User: public(u), Role: m.Role, Joined: m.Joined})
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Joined < out[j].Joined || out[i].Joined == out[j].Joined && out[i].ID < out[j].ID
	})
	return out, nil
}

// Room describes one room to a member.
func (s *Service) Room(ctx context.Context, c Caller, roomID string) (*api.Room, error) {
	if err := s.authorize(ctx, roomID, c.User); err != nil {
		return nil, err
	}
	return s.Summary(ctx, roomID, c.User)
}

// Rooms lists the caller's rooms.
func (s *Service) Rooms(ctx context.Context, c Caller) ([]api.Room, error) {
	ids := s.ix.UserRooms(c.User)
	out := make([]api.Room, 0, len(ids))
	for _, id := range ids {
		r, err := s.Summary(ctx, id, c.User)
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, nil
}

// Summary describes room to user without checking membership (callers do).
func (s *Service) Summary(ctx context.Context, roomID, user string) (*api.Room, error) {
	var rec store.RoomRecord
	if v, ok := s.ix.Room(roomID); ok {
		rec = v.Record
	} else if _, err := s.st.GetJSON(ctx, s.st.Rooms, roomID, &rec); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errNotMember
		}
		return nil, s.unavailable("get room", err)
	}
	var rc store.ReceiptRecord
	// Any replica's answer will do: a missing receipt is no receipt yet, and
	// asking the leader would wait out its election after a failure.
	if _, err := store.GetJSON(ctx, s.st.Receipts, store.MemberKey(roomID, user), &rc); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, s.unavailable("get receipts", err)
	}
	members := s.ix.Members(roomID)
	r := &api.Room{ID: rec.ID, Kind: rec.Kind, Name: rec.Name, Created: rec.Created,
		LastSeq: s.lastSeq(ctx, roomID), Members: len(members), Role: members[user].Role,
		Read: rc.Read, Delivered: rc.Delivered}
	r.Unread = s.ix.Unread(roomID, max(rc.Read, s.ix.LastOwn(roomID, user)))
	if ev, ok := s.ix.LastEvent(roomID); ok && ev.Seq == r.LastSeq {
		r.Last = &ev
	}
	if rec.Kind == api.RoomDirect {
		for u := range members {
			if u != user {
				if peer, err := s.userByID(ctx, u); err == nil {
					p := public(peer)
					r.Peer = &p
				}
			}
		}
	}
	return r, nil
}
