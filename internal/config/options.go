package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// numOptions is the number of options, len(options()).
const numOptions = 38

// option describes one configuration option. Its environment variable and
// file key are derived from its flag name.
type option struct {
	name   string              // flag name, e.g. "max-room-members"
	help   string              // one line for --help
	field  func(c *Config) any // pointer to the option's field in c
	secret bool                // never printed by Describe
}

// options lists every option, in the order --help and Describe show them.
func options() []option {
	return []option{
		{name: "data", help: "data directory", field: func(c *Config) any { return &c.Data }},
		{name: "http", help: "HTTP listen address (port 0 picks a free port)", field: func(c *Config) any { return &c.HTTP }},
		{name: "sync", help: `fsync policy: "default" (every 2m), "always" (before each ack) or an interval like "1s"`, field: func(c *Config) any { return &c.Sync }},
		{name: "log-level", help: "log level: debug, info, warn or error", field: func(c *Config) any { return &c.LogLevel }},
		{name: "log-format", help: "log format: text or json", field: func(c *Config) any { return &c.LogFormat }},
		{name: "tls-cert", help: "TLS certificate file (PEM); needs --tls-key", field: func(c *Config) any { return &c.TLSCert }},
		{name: "tls-key", help: "TLS private key file (PEM); needs --tls-cert", field: func(c *Config) any { return &c.TLSKey }},
		{name: "max-room-members", help: "most members a room may have (2-1000000)", field: func(c *Config) any { return &c.MaxRoomMembers }},
		{name: "partitions", help: "message stream partitions (1-1024); only used when the data directory is new", field: func(c *Config) any { return &c.Partitions }},
		{name: "duplicate-window", help: "how long at least a client message id is remembered to drop resends (10s-24h)", field: func(c *Config) any { return &c.DuplicateWindow }},
		{name: "send-rate", help: "messages per second per device (0 = unlimited)", field: func(c *Config) any { return &c.SendRate }},
		{name: "send-burst", help: "messages a device may send at once", field: func(c *Config) any { return &c.SendBurst }},
		{name: "auth-rate", help: "sign-up and sign-in requests per second per client address (0 = unlimited)", field: func(c *Config) any { return &c.AuthRate }},
		{name: "auth-burst", help: "sign-up and sign-in requests a client address may make at once", field: func(c *Config) any { return &c.AuthBurst }},
		{name: "request-rate", help: "other HTTP requests per second per device (0 = unlimited)", field: func(c *Config) any { return &c.RequestRate }},
		{name: "request-burst", help: "other HTTP requests a device may make at once", field: func(c *Config) any { return &c.RequestBurst }},
		{name: "ws-queue", help: "outbound frames buffered per WebSocket before it is cut as slow (16-65536)", field: func(c *Config) any { return &c.WSQueue }},
		{name: "password-hash", help: `password hashing cost: "default", or "fast" for tests and benchmarks only`, field: func(c *Config) any { return &c.PasswordHash }},
		{name: "metrics-addr", help: `listen address for /metrics ("" = the main HTTP listener)`, field: func(c *Config) any { return &c.MetricsAddr }},
		{name: "max-inflight", help: "most operations a node works on at once (16-1000000); it admits fewer while sends are slow", field: func(c *Config) any { return &c.MaxInFlight }},
		{name: "max-memory", help: "MiB of memory a node may use before it refuses new work (0 = 70% of the machine's or container's)", field: func(c *Config) any { return &c.MaxMemory }},
		{name: "latency-target", help: "send latency (90th percentile) above which a node admits less work (10ms-10s)", field: func(c *Config) any { return &c.LatencyTarget }},
		{name: "canary-every", help: "period of the node's canary messages through the send and delivery path, for the status page (0 = none; 1s-1h)", field: func(c *Config) any { return &c.CanaryEvery }},
		{name: "admin-token", help: `token for the operators' API (incidents, /v1/admin/…), 24+ characters ("" = disabled)`, field: func(c *Config) any { return &c.AdminToken }, secret: true},
		{name: "smtp-addr", help: `mail server (host:port) for status subscribers' email ("" = no email)`, field: func(c *Config) any { return &c.SMTPAddr }},
		{name: "smtp-from", help: "sender address of status email", field: func(c *Config) any { return &c.SMTPFrom }},
		{name: "smtp-user", help: `user for SMTP authentication ("" = none); sent only over TLS or to localhost`, field: func(c *Config) any { return &c.SMTPUser }},
		{name: "smtp-password", help: "password for SMTP authentication", field: func(c *Config) any { return &c.SMTPPassword }, secret: true},
		{name: "cluster", help: `cluster route listen address, e.g. 0.0.0.0:7422 ("" = a single node)`, field: func(c *Config) any { return &c.Cluster }},
		{name: "peers", help: "other nodes' route addresses, comma-separated host:port", field: func(c *Config) any { return &c.Peers }},
		{name: "dc", help: "this node's data centre; replicas are spread so no two share one", field: func(c *Config) any { return &c.DC }},
		{name: "node", help: "this node's name, unique in the cluster", field: func(c *Config) any { return &c.Node }},
		{name: "cluster-secret", help: "shared secret that authenticates cluster routes (16+ characters)", field: func(c *Config) any { return &c.ClusterSecret }, secret: true},
		{name: "cluster-tls-cert", help: "TLS certificate for cluster routes (PEM); with --cluster-tls-key and --cluster-tls-ca", field: func(c *Config) any { return &c.ClusterTLSCert }},
		{name: "cluster-tls-key", help: "TLS private key for cluster routes (PEM)", field: func(c *Config) any { return &c.ClusterTLSKey }},
		{name: "cluster-tls-ca", help: "CA that signs every node's route certificate (PEM)", field: func(c *Config) any { return &c.ClusterTLSCA }},
		{name: "advertise", help: `URL clients use to reach this node, shared with every client ("" = its listen URL)`, field: func(c *Config) any { return &c.Advertise }},
		{name: "replicas", help: "copies of every stream and bucket (0 = 1 on a single node, 3 in a cluster)", field: func(c *Config) any { return &c.Replicas }},
	}
}

const (
	configFlag = "config"
	configEnv  = "DANDAN_CONFIG"
)

func (o option) env() string { return "DANDAN_" + strings.ToUpper(o.key()) }
func (o option) key() string { return strings.ReplaceAll(o.name, "-", "_") }

// index returns the index of the option with flag name, or -1.
func index(name string) int {
	for i, o := range options() {
		if o.name == name {
			return i
		}
	}
	return -1
}

// Register adds every option to fs as a flag, with its default and help
// text, and --config FILE.
func Register(fs *pflag.FlagSet) {
	d := Default()
	fs.String(configFlag, "", "TOML config file [$"+configEnv+"]")
	for _, o := range options() {
		help := fmt.Sprintf("%s [$%s]", o.help, o.env())
		switch p := o.field(&d).(type) {
		case *string:
			fs.String(o.name, *p, help)
		case *int:
			fs.Int(o.name, *p, help)
		case *float64:
			fs.Float64(o.name, *p, help)
		case *time.Duration:
			fs.Duration(o.name, *p, help)
		default:
			panic(fmt.Sprintf("config: option %s has unsupported type %T", o.name, p))
		}
	}
}
