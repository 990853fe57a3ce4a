package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Reads in a cluster. Direct gets (KV gets, Range) are answered by any
// replica, so they keep working while a stream elects a new leader, but a
// replica may lag its leader by a few milliseconds: what was just
// acknowledged may not be there yet. Where that matters — a room's head
// before a compare-and-set, an entry that a direct get says is missing —
// the store asks the stream leader, which answers only with committed state.

// leaderGetTimeout bounds a read from a stream's leader.
const leaderGetTimeout = time.Second

// leaderGet asks stream's leader for one message: by sequence, or the last
// on subject lastBy. It returns ErrNotFound if there is none.
func (s *Store) leaderGet(ctx context.Context, stream string, seq uint64, lastBy string) (*jetstream.RawStreamMsg, error) {
	req, _ := json.Marshal(struct {
		Seq    uint64 `json:"seq,omitempty"`
		LastBy string `json:"last_by_subj,omitempty"`
	}{seq, lastBy})
	// A stream without a leader (electing one after a failure) does not
	// answer: give up soon, so the caller's retry can go elsewhere.
	ctx, cancel := context.WithTimeout(ctx, leaderGetTimeout)
	defer cancel()
	m, err := s.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+stream, req)
	if err != nil {
		return nil, fmt.Errorf("get from %s leader: %w", stream, err)
	}
	var resp struct {
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
		Message *struct {
			Subject string    `json:"subject"`
			Seq     uint64    `json:"seq"`
			Header  []byte    `json:"hdrs"`
			Data    []byte    `json:"data"`
			Time    time.Time `json:"time"`
		} `json:"message"`
	}
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return nil, fmt.Errorf("get from %s leader: %w", stream, err)
	}
	if resp.Error != nil {
		if resp.Error.ErrCode == int(jetstream.JSErrCodeMessageNotFound) || resp.Error.Code == 404 {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("get from %s leader: %s (%d)", stream, resp.Error.Description, resp.Error.ErrCode)
	}
	if resp.Message == nil {
		return nil, fmt.Errorf("get from %s leader: empty answer", stream)
	}
	out := &jetstream.RawStreamMsg{Subject: resp.Message.Subject, Sequence: resp.Message.Seq,
		Data: resp.Message.Data, Time: resp.Message.Time}
	if len(resp.Message.Header) > 0 {
		if out.Header, err = nats.DecodeHeadersMsg(resp.Message.Header); err != nil {
			return nil, fmt.Errorf("get from %s leader: headers: %w", stream, err)
		}
	}
	return out, nil
}

// Get reads key's value from kv. A key a replica says is missing is looked
// up again at the bucket's leader, so that an entry stored a moment ago
// through another node is found. It returns ErrNotFound for a missing key.
func (s *Store) Get(ctx context.Context, kv jetstream.KeyValue, key string) ([]byte, uint64, error) {
	e, err := kv.Get(ctx, key)
	switch {
	case err == nil:
		return e.Value(), e.Revision(), nil
	case !errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, 0, fmt.Errorf("get %s/%s: %w", kv.Bucket(), key, err)
	case s.replicas < 2:
		return nil, 0, ErrNotFound
	}
	m, err := s.leaderGet(ctx, "KV_"+kv.Bucket(), 0, "$KV."+kv.Bucket()+"."+key)
	if err != nil {
		return nil, 0, err
	}
	if op := m.Header.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
		return nil, 0, ErrNotFound
	}
	return m.Data, m.Sequence, nil
}

// GetJSON reads key from kv into v as Get does, and returns the entry's
// revision.
func (s *Store) GetJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any) (uint64, error) {
	b, rev, err := s.Get(ctx, kv, key)
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return 0, fmt.Errorf("decode %s/%s: %w", kv.Bucket(), key, err)
	}
	return rev, nil
}
