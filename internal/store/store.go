// Package store is dandan's data layout on JetStream: the replicated streams
// that hold every room's events and the key-value buckets that hold accounts,
// devices, rooms, memberships and receipts. It is the only package that knows
// subject names, bucket names and header names.
//
// Room events live in a fixed set of partition streams MSG_00…MSG_NN, subject
// m.<partition>.<room>, so one stream's leader election pauses only the rooms
// of that partition and load spreads over the cluster's servers. Each event's
// place in its room (its room seq) is guarded by JetStream's compare-and-set on
// the subject's last sequence, so two nodes can never give two events the same
// seq. Each event carries its message id (Nats-Msg-Id): the read model
// recognises resends by it, and JetStream's own short window is a second line.
//
//	st, err := store.Open(ctx, js, nc, store.Options{Partitions: 16, Replicas: 1})
//	sseq, dup, err := st.Append(ctx, ev, "u1:c-42", lastStreamSeq)
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options shape the layout. Partitions is fixed when the data is first
// created; later opens use the stored value.
type Options struct {
	Partitions int
	Replicas   int
	// DuplicateWindow is JetStream's own message-id window on the room
	// streams; 0 means StreamDuplicateWindow.
	DuplicateWindow time.Duration
	Placement       *jetstream.Placement // nil on a single node
}

// StreamDuplicateWindow is JetStream's own message-id window on the room
// streams. It keeps a string and an entry per message on the heap, which the
// garbage collector traces: at thousands of messages a second, two minutes'
// worth made every collection slow. The read model recognises resends for
// longer in pointer-free memory (see internal/index); this short window is a
// second line behind it. Even 10 s of entries (100,000 at 10,000 msg/s)
// doubled each collection's marking, and with it the tail latency.
const StreamDuplicateWindow = 2 * time.Second

// Store gives typed access to the streams and buckets.
type Store struct {
	nc         *nats.Conn
	js         jetstream.JetStream
	partitions int
	replicas   int

	Users    jetstream.KeyValue // user id → UserRecord
	Handles  jetstream.KeyValue // handle → user id
	Devices  jetstream.KeyValue // device id → DeviceRecord
	UserDevs jetstream.KeyValue // <user>.<device> → "" (a user's devices)
	Rooms    jetstream.KeyValue // room id → RoomRecord
	Members  jetstream.KeyValue // <room>.<user> → MemberRecord
	Receipts jetstream.KeyValue // <room>.<user> → ReceiptRecord
	Nodes    jetstream.KeyValue // node name → NodeRecord
	Status   jetstream.KeyValue // incident.<id> → api.Incident; open.<component> → incident id; subscriber.<id> → api.Subscriber
	Notify   jetstream.Stream   // notifications to deliver (NotifyStream), one per subscriber and incident change
}

// NotifyStream holds notifications waiting to be delivered to status
// subscribers, on subjects notify.<subscriber>. It is a work queue: a
// notification is removed once one node has delivered it. Its duplicate
// window lets every node announce the same incident change; one is kept.
const NotifyStream = "DD_NOTIFY"

// Bucket names.
const (
	bucketMeta     = "dd_meta"
	bucketUsers    = "dd_users"
	bucketHandles  = "dd_handles"
	bucketDevices  = "dd_devices"
	bucketUserDevs = "dd_userdevs"
	bucketRooms    = "dd_rooms"
	bucketMembers  = "dd_members"
	bucketReceipts = "dd_receipts"
	bucketNodes    = "dd_nodes"
	bucketStatus   = "dd_status"
)

type layout struct {
	Version    int `json:"version"`
	Partitions int `json:"partitions"`
}

// Open creates the streams and buckets that do not exist yet and binds to all.
func Open(ctx context.Context, js jetstream.JetStream, nc *nats.Conn, o Options) (*Store, error) {
	if o.Replicas < 1 {
		o.Replicas = 1
	}
	if o.Partitions < 1 {
		o.Partitions = 16
	}
	if o.DuplicateWindow <= 0 {
		o.DuplicateWindow = StreamDuplicateWindow
	}
	s := &Store{nc: nc, js: js, replicas: o.Replicas}
	kv := func(name string, history uint8) (jetstream.KeyValue, error) {
		var b jetstream.KeyValue
		cfg := jetstream.KeyValueConfig{
			Bucket:    name,
			History:   history,
			Storage:   jetstream.FileStorage,
			Replicas:  o.Replicas,
			Placement: o.Placement,
		}
		// Create first, update only a bucket that exists with another
		// configuration: an update racing other nodes' creates of the same
		// bucket (a cluster's first start) goes unanswered.
		err := retry(ctx, func(ctx context.Context) (err error) {
			b, err = js.CreateKeyValue(ctx, cfg)
			if errors.Is(err, jetstream.ErrBucketExists) {
				b, err = js.UpdateKeyValue(ctx, cfg)
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("open bucket %s: %w", name, err)
		}
		return b, nil
	}
	meta, err := kv(bucketMeta, 1)
	if err != nil {
		return nil, err
	}
	l, err := loadLayout(ctx, meta, o.Partitions)
	if err != nil {
		return nil, err
	}
	s.partitions = l.Partitions
	for _, b := range []struct {
		dst  *jetstream.KeyValue
		name string
	}{
		{&s.Users, bucketUsers}, {&s.Handles, bucketHandles}, {&s.Devices, bucketDevices},
		{&s.UserDevs, bucketUserDevs}, {&s.Rooms, bucketRooms}, {&s.Members, bucketMembers},
		{&s.Receipts, bucketReceipts}, {&s.Nodes, bucketNodes}, {&s.Status, bucketStatus},
	} {
		if *b.dst, err = kv(b.name, 1); err != nil {
			return nil, err
		}
	}
	notify := jetstream.StreamConfig{
		Name:       NotifyStream,
		Subjects:   []string{"notify.>"},
		Storage:    jetstream.FileStorage,
		Replicas:   o.Replicas,
		Placement:  o.Placement,
		Retention:  jetstream.WorkQueuePolicy,
		Duplicates: 10 * time.Minute,
		MaxAge:     7 * 24 * time.Hour,
		MaxMsgSize: 256 << 10,
	}
	err = retry(ctx, func(ctx context.Context) (err error) {
		s.Notify, err = js.CreateStream(ctx, notify)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s.Notify, err = js.UpdateStream(ctx, notify)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", NotifyStream, err)
	}
	for p := 0; p < s.partitions; p++ {
		cfg := jetstream.StreamConfig{
			Name:        StreamName(p),
			Subjects:    []string{fmt.Sprintf("m.%d.*", p)},
			Storage:     jetstream.FileStorage,
			Replicas:    o.Replicas,
			Placement:   o.Placement,
			Retention:   jetstream.LimitsPolicy,
			Duplicates:  o.DuplicateWindow,
			MaxMsgSize:  256 << 10,
			AllowDirect: true,
			DenyDelete:  true,
			DenyPurge:   true,
		}
		err := retry(ctx, func(ctx context.Context) error {
			_, err := js.CreateStream(ctx, cfg)
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				_, err = js.UpdateStream(ctx, cfg)
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("open stream %s: %w", cfg.Name, err)
		}
	}
	return s, nil
}

// retry calls create with a short timeout until it succeeds, ctx ends, or
// it fails for a reason other than time. In a cluster a create request can
// go unanswered: sent before there is a meta leader, or while another node
// is creating the same asset; asking again is answered at once.
func retry(ctx context.Context, create func(context.Context) error) error {
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := create(cctx)
		cancel()
		if err == nil || ctx.Err() != nil || !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func retryable(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		(errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeJetStreamNotEnabled ||
			apiErr.Code == 503 || apiErr.ErrorCode == 10008 /* temporarily unavailable */ ||
			apiErr.ErrorCode == 10005 /* insufficient resources: a data centre is missing */))
}

// loadLayout returns the stored layout, storing want's if there is none.
func loadLayout(ctx context.Context, meta jetstream.KeyValue, want int) (layout, error) {
	l := layout{Version: 1, Partitions: want}
	b, _ := json.Marshal(l)
	if _, err := meta.Create(ctx, "layout", b); err == nil {
		return l, nil
	} else if !errors.Is(err, jetstream.ErrKeyExists) {
		return l, fmt.Errorf("store layout: %w", err)
	}
	e, err := meta.Get(ctx, "layout")
	if err != nil {
		return l, fmt.Errorf("read layout: %w", err)
	}
	if err := json.Unmarshal(e.Value(), &l); err != nil || l.Partitions < 1 {
		return l, fmt.Errorf("stored layout is corrupt: %q", e.Value())
	}
	return l, nil
}

// Partitions is the number of message streams.
func (s *Store) Partitions() int { return s.partitions }

// StreamName is the name of partition p's stream.
func StreamName(p int) string { return fmt.Sprintf("MSG_%02d", p) }

// Partition is the partition holding room's events.
func (s *Store) Partition(room string) int { return PartitionOf(room, s.partitions) }

// PartitionOf is the partition of room among n.
func PartitionOf(room string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(room))
	return int(h.Sum32() % uint32(n))
}

// Subject is the stream subject of room's events.
func (s *Store) Subject(room string) string {
	return "m." + strconv.Itoa(s.Partition(room)) + "." + room
}

// Core NATS subjects for ephemeral traffic between nodes.
const (
	SubjectEphemeral = "eph"     // eph.<room>: typing and receipts
	SubjectRevoked   = "revoked" // revoked.<device>: close that device's sessions
)

// JetStream is the JetStream context the store uses.
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// Conn is the NATS connection the store uses.
func (s *Store) Conn() *nats.Conn { return s.nc }
