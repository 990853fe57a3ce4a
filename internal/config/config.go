package config

import (
	"strings"
	"time"
)

// DefaultSyncInterval is JetStream's own fsync interval, used when Sync is
// "default".
const DefaultSyncInterval = 2 * time.Minute

// Config is the whole configuration of a dandan node. The zero value is not
// valid; start from Default or Load.
type Config struct {
	Data            string        `toml:"data"`             // data directory
	HTTP            string        `toml:"http"`             // listen address; port 0 picks a free port
	Sync            string        `toml:"sync"`             // "default", "always" or a duration
	LogLevel        string        `toml:"log_level"`        // debug|info|warn|error
	LogFormat       string        `toml:"log_format"`       // text|json
	TLSCert         string        `toml:"tls_cert"`         // PEM certificate file; with TLSKey
	TLSKey          string        `toml:"tls_key"`          // PEM key file; with TLSCert
	MaxRoomMembers  int           `toml:"max_room_members"` // 2..1000000
	Partitions      int           `toml:"partitions"`       // message stream partitions, for a new data directory
	DuplicateWindow time.Duration `toml:"duplicate_window"` // client id deduplication window
	SendRate        float64       `toml:"send_rate"`        // messages/s per device; 0 = unlimited
	SendBurst       int           `toml:"send_burst"`
	AuthRate        float64       `toml:"auth_rate"` // sign-up/sign-in requests/s per client address
	AuthBurst       int           `toml:"auth_burst"`
	RequestRate     float64       `toml:"request_rate"` // other HTTP requests/s per device
	RequestBurst    int           `toml:"request_burst"`
	WSQueue         int           `toml:"ws_queue"`       // outbound frames buffered per WebSocket
	PasswordHash    string        `toml:"password_hash"`  // "default" or "fast" (tests only)
	MetricsAddr     string        `toml:"metrics_addr"`   // "" = /metrics on the main listener
	MaxInFlight     int           `toml:"max_inflight"`   // most admitted operations at once (adaptive below this)
	MaxMemory       int           `toml:"max_memory"`     // MiB before new work is refused; 0 = 70% of the machine's
	AdminToken      string        `toml:"admin_token"`    // operators' API (/v1/admin/…); "" = disabled
	LatencyTarget   time.Duration `toml:"latency_target"` // 90th percentile send latency above which the node admits less
	CanaryEvery     time.Duration `toml:"canary_every"`   // period of the node's canary messages; 0 = none

	// Email to status subscribers; SMTPAddr "" = none.
	SMTPAddr     string `toml:"smtp_addr"`     // host:port of the mail server
	SMTPFrom     string `toml:"smtp_from"`     // sender address
	SMTPUser     string `toml:"smtp_user"`     // PLAIN authentication; "" = none
	SMTPPassword string `toml:"smtp_password"` // with SMTPUser

	// Cluster mode: set Cluster (and usually Peers) to join other nodes.
	Cluster        string `toml:"cluster"`          // route listen address; "" = a single node
	Peers          string `toml:"peers"`            // comma-separated route addresses of the other nodes
	DC             string `toml:"dc"`               // data centre name (placement tag)
	Node           string `toml:"node"`             // node name, unique in the cluster
	ClusterSecret  string `toml:"cluster_secret"`   // authenticates routes
	ClusterTLSCert string `toml:"cluster_tls_cert"` // route TLS: certificate,
	ClusterTLSKey  string `toml:"cluster_tls_key"`  // its key,
	ClusterTLSCA   string `toml:"cluster_tls_ca"`   // and the CA every node's certificate is checked against
	Advertise      string `toml:"advertise"`        // client URL of this node
	Replicas       int    `toml:"replicas"`         // 0 = automatic

	src  [numOptions]source // where each option's value came from, by option index
	file string             // the config file read, if any
}

// source is where an option's value came from.
type source uint8

const (
	fromDefault        source = iota
	fromClusterDefault        // the default of a clustered node
	fromFile
	fromEnv
	fromFlag
)

// Default returns the default configuration.
func Default() Config {
	return Config{
		Data:            "./dandan-data",
		HTTP:            "127.0.0.1:8080",
		Sync:            "default",
		LogLevel:        "info",
		LogFormat:       "text",
		MaxRoomMembers:  10000,
		Partitions:      16,
		DuplicateWindow: 2 * time.Minute,
		SendRate:        50,
		SendBurst:       200,
		AuthRate:        5,
		AuthBurst:       20,
		RequestRate:     100,
		RequestBurst:    400,
		WSQueue:         1024,
		PasswordHash:    "default",
		MaxInFlight:     1024,
		LatencyTarget:   250 * time.Millisecond,
		CanaryEvery:     30 * time.Second,
	}
}

// Clustered reports whether the node joins a cluster.
func (c Config) Clustered() bool { return c.Cluster != "" }

// PeerList is Peers split on commas, blanks dropped.
func (c Config) PeerList() []string {
	var out []string
	for _, p := range strings.Split(c.Peers, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// EffectiveReplicas is the replica count of streams and buckets: Replicas,
// or 1 on a single node and 3 in a cluster.
func (c Config) EffectiveReplicas() int {
	switch {
	case c.Replicas > 0:
		return c.Replicas
	case c.Clustered():
		return 3
	}
	return 1
}

// SyncInterval interprets Sync: always is true if every write is fsynced
// before it is acknowledged; otherwise writes are fsynced every interval.
// An invalid Sync (which Validate refuses) is taken as "default".
func (c Config) SyncInterval() (always bool, interval time.Duration) {
	switch c.Sync {
	case "always":
		return true, 0
	case "default", "":
		return false, DefaultSyncInterval
	}
	d, err := time.ParseDuration(c.Sync)
	if err != nil || d <= 0 {
		return false, DefaultSyncInterval
	}
	return false, d
}
