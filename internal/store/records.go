package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// UserRecord is an account. PasswordHash is a PHC-format argon2id hash.
type UserRecord struct {
	ID           string `json:"id"`
	Handle       string `json:"handle"`
	DisplayName  string `json:"display_name,omitempty"`
	Phone        string `json:"phone,omitempty"`
	PasswordHash string `json:"password_hash"`
	Created      int64  `json:"created"`
}

// DeviceRecord is a signed-in device. Only the hash of its token's secret is kept.
type DeviceRecord struct {
	ID         string `json:"id"`
	User       string `json:"user"`
	Name       string `json:"name,omitempty"`
	SecretHash string `json:"secret_hash"`
	Created    int64  `json:"created"`
	LastSeen   int64  `json:"last_seen"`
}

// RoomRecord is a room's durable state; membership is in the Members bucket.
type RoomRecord struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"`
	Name      string `json:"name,omitempty"`
	Created   int64  `json:"created"`
	CreatedBy string `json:"created_by"`
}

// MemberRecord is one membership, key <room>.<user>.
type MemberRecord struct {
	Role   string `json:"role"`
	Joined int64  `json:"joined"`
}

// ReceiptRecord holds a member's pointers in a room, key <room>.<user>.
type ReceiptRecord struct {
	Delivered uint64 `json:"delivered"`
	Read      uint64 `json:"read"`
}

// NodeRecord is a node of the cluster as it announces itself, key its name.
// Every node rewrites its record periodically; Seen says when it last did.
type NodeRecord struct {
	Name string `json:"name"`
	DC   string `json:"dc,omitempty"`
	URL  string `json:"url"`  // where clients reach it
	Seen int64  `json:"seen"` // unix milliseconds
}

// ErrNotFound is returned by the typed getters for a missing key.
var ErrNotFound = errors.New("not found")

// GetJSON reads key from kv into v and returns the entry's revision.
func GetJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any) (uint64, error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("get %s/%s: %w", kv.Bucket(), key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return 0, fmt.Errorf("decode %s/%s: %w", kv.Bucket(), key, err)
	}
	return e.Revision(), nil
}

// PutJSON writes v at key unconditionally.
func PutJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, key, b); err != nil {
		return fmt.Errorf("put %s/%s: %w", kv.Bucket(), key, err)
	}
	return nil
}

// CreateJSON writes v at key only if the key does not exist, and returns the
// new entry's revision; it returns jetstream.ErrKeyExists otherwise.
func CreateJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any) (uint64, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	rev, err := kv.Create(ctx, key, b)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return 0, jetstream.ErrKeyExists
		}
		return 0, fmt.Errorf("create %s/%s: %w", kv.Bucket(), key, err)
	}
	return rev, nil
}

// UpdateJSON applies change to the value at key with compare-and-set,
// retrying on conflicts. change gets the current value (zero if missing) and
// reports whether to write.
func UpdateJSON[T any](ctx context.Context, kv jetstream.KeyValue, key string, change func(*T, bool) bool) (T, error) {
	for attempt := 0; ; attempt++ {
		var v T
		rev, err := GetJSON(ctx, kv, key, &v)
		exists := err == nil
		if err != nil && !errors.Is(err, ErrNotFound) {
			return v, err
		}
		if !change(&v, exists) {
			return v, nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			return v, err
		}
		if exists {
			_, err = kv.Update(ctx, key, b, rev)
		} else {
			_, err = kv.Create(ctx, key, b)
		}
		if err == nil {
			return v, nil
		}
		if attempt >= 20 || !isConflict(err) {
			return v, fmt.Errorf("update %s/%s: %w", kv.Bucket(), key, err)
		}
		// The read may have come from a replica a moment behind the leader
		// that refused the write: give it that moment.
		time.Sleep(time.Duration(attempt) * time.Millisecond)
	}
}

func isConflict(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) ||
		(errors.As(err, &apiErr) && isWrongLast(apiErr.ErrorCode))
}

func isWrongLast(c jetstream.ErrorCode) bool {
	return c == jetstream.JSErrCodeStreamWrongLastSequence || c == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// MemberKey is the key of user's membership (and receipts) in room.
func MemberKey(room, user string) string { return room + "." + user }
