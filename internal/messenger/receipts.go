package messenger

import (
	"context"
	"encoding/json"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/store"
)

// MarkReceipt moves the caller's delivered and read pointers in a room
// forward (never back; read implies delivered) and tells the other members.
func (s *Service) MarkReceipt(ctx context.Context, c Caller, roomID string, r api.ReceiptRequest) (*api.Receipt, error) {
	if err := s.authorize(ctx, roomID, c.User); err != nil {
		return nil, err
	}
	last := s.lastSeq(ctx, roomID)
	r.Delivered, r.Read = min(r.Delivered, last), min(r.Read, last)
	rec, err := store.UpdateJSON(ctx, s.st.Receipts, store.MemberKey(roomID, c.User), func(v *store.ReceiptRecord, _ bool) bool {
		changed := false
		if r.Read > v.Read {
			v.Read, changed = r.Read, true
		}
		if d := max(r.Delivered, r.Read); d > v.Delivered {
			v.Delivered, changed = d, true
		}
		return changed
	})
	if err != nil {
		return nil, s.unavailable("update receipt", err)
	}
	out := &api.Receipt{Room: roomID, User: c.User, Delivered: rec.Delivered, Read: rec.Read}
	s.ephemeral(roomID, api.ServerFrame{Type: api.FrameReceipt, Receipt: out})
	return out, nil
}

// Receipts lists every member's pointers in a room.
func (s *Service) Receipts(ctx context.Context, c Caller, roomID string) ([]api.Receipt, error) {
	if err := s.authorize(ctx, roomID, c.User); err != nil {
		return nil, err
	}
	ids := s.ix.MemberIDs(roomID)
	out := make([]api.Receipt, 0, len(ids))
	for _, u := range ids {
		var rc store.ReceiptRecord
		// Any replica's answer will do: a missing receipt is no receipt yet.
		if _, err := store.GetJSON(ctx, s.st.Receipts, store.MemberKey(roomID, u), &rc); err != nil && err != store.ErrNotFound {
			return nil, s.unavailable("get receipt", err)
		}
		out = append(out, api.Receipt{Room: roomID, User: u, Delivered: rc.Delivered, Read: rc.Read})
	}
	return out, nil
}

// Typing tells the room's other members that the caller is typing. It is
// never stored.
func (s *Service) Typing(ctx context.Context, c Caller, roomID string) error {
	if !s.ix.IsMember(roomID, c.User) {
		return errNotMember
	}
	s.ephemeral(roomID, api.ServerFrame{Type: api.FrameTyping, RoomID: roomID, User: c.User})
	return nil
}

// ephemeral publishes a frame to every node's sessions in a room, best effort.
func (s *Service) ephemeral(roomID string, f api.ServerFrame) {
	b, err := json.Marshal(f)
	if err == nil {
		err = s.nc.Publish(store.SubjectEphemeral+"."+roomID, b)
	}
	if err != nil {
		s.log.Debug("ephemeral publish", "err", err)
	}
}
