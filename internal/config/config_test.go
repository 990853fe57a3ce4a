package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// env returns a getenv backed by m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeFile writes a config file in a temporary directory.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dandan.toml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// flags returns a FlagSet set up by Register and parsed from args.
func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	Register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("Parse(%q): %v", args, err)
	}
	return fs
}

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v, want nil", err)
	}
	got, err := Load(flags(t), env(nil))
	if err != nil {
		t.Fatalf("Load with nothing set: %v", err)
	}
	if got != c {
		t.Errorf("Load with nothing set = %+v, want Default() %+v", got, c)
	}
	if got, err := Load(nil, nil); err != nil || got != c {
		t.Errorf("Load(nil, nil) = %+v, %v; want Default(), nil", got, err)
	}
}

// Every exported field of Config is exactly one option.
func TestOptionsCoverConfig(t *testing.T) {
	var c Config
	fields := make(map[any]string)
	rt := reflect.TypeOf(c)
	for i := range rt.NumField() {
		if f := rt.Field(i); f.IsExported() {
			fields[reflect.ValueOf(&c).Elem().Field(i).Addr().Interface()] = f.Name
		}
	}
	opts := options()
	if len(opts) != numOptions {
		t.Fatalf("len(options()) = %d, want numOptions = %d", len(opts), numOptions)
	}
	for _, o := range opts {
		p := o.field(&c)
		if _, ok := fields[p]; !ok {
			t.Errorf("option %s does not point to a distinct exported field", o.name)
		}
		delete(fields, p)
	}
	for _, name := range fields {
		t.Errorf("field %s has no option", name)
	}
	for i := range rt.NumField() {
		f := rt.Field(i)
		if !f.IsExported() {
			continue
		}
		j := -1
		for k, o := range opts {
			if reflect.ValueOf(o.field(&c)).Pointer() == reflect.ValueOf(&c).Elem().Field(i).Addr().Pointer() {
				j = k
			}
		}
		if got, want := f.Tag.Get("toml"), opts[j].key(); got != want {
			t.Errorf("field %s: toml tag %q, want %q", f.Name, got, want)
		}
	}
}

func TestRegister(t *testing.T) {
	fs := flags(t)
	d := Default()
	for _, o := range options() {
		f := fs.Lookup(o.name)
		if f == nil {
			t.Errorf("flag --%s not registered", o.name)
			continue
		}
		c := Default()
		if err := set(o.field(&c), f.DefValue); err != nil || c != d {
			t.Errorf("--%s default %q does not match Default()", o.name, f.DefValue)
		}
		if !strings.Contains(f.Usage, o.env()) {
			t.Errorf("--%s help %q does not name %s", o.name, f.Usage, o.env())
		}
	}
	if fs.Lookup("config") == nil {
		t.Errorf("flag --config not registered")
	}
}

func TestPrecedence(t *testing.T) {
	const file = `
partitions = 8
log_level = "warn"
duplicate_window = "5m"
send_rate = 7
`
	tests := []struct {
		name    string
		file    bool
		env     map[string]string
		args    []string
		want    func(c *Config)
		wantSrc map[string]source
	}{
		{
			name: "defaults",
			want: func(c *Config) {},
		},
		{
			name: "file beats default",
			file: true,
			want: func(c *Config) {
				c.Partitions, c.LogLevel, c.DuplicateWindow, c.SendRate = 8, "warn", 5*time.Minute, 7
			},
			wantSrc: map[string]source{"partitions": fromFile, "log-level": fromFile, "http": fromDefault},
		},
		{
			name: "env beats file",
			file: true,
			env:  map[string]string{"DANDAN_PARTITIONS": "4", "DANDAN_LOG_LEVEL": "debug", "DANDAN_SEND_RATE": "0.5"},
			want: func(c *Config) {
				c.Partitions, c.LogLevel, c.DuplicateWindow, c.SendRate = 4, "debug", 5*time.Minute, 0.5
			},
			wantSrc: map[string]source{"partitions": fromEnv, "duplicate-window": fromFile},
		},
		{
			name: "flag beats env",
			file: true,
			env:  map[string]string{"DANDAN_PARTITIONS": "4", "DANDAN_LOG_LEVEL": "debug"},
			args: []string{"--partitions=2", "--duplicate-window", "30s"},
			want: func(c *Config) {
				c.Partitions, c.LogLevel, c.DuplicateWindow, c.SendRate = 2, "debug", 30*time.Second, 7
			},
			wantSrc: map[string]source{"partitions": fromFlag, "log-level": fromEnv, "duplicate-window": fromFlag, "send-rate": fromFile},
		},
		{
			name: "flag equal to its default still wins",
			env:  map[string]string{"DANDAN_PARTITIONS": "4"},
			args: []string{"--partitions=16"},
			want: func(c *Config) {},
		},
		{
			name:    "empty env is unset",
			file:    true,
			env:     map[string]string{"DANDAN_LOG_LEVEL": ""},
			want:    func(c *Config) { c.Partitions, c.LogLevel, c.DuplicateWindow, c.SendRate = 8, "warn", 5*time.Minute, 7 },
			wantSrc: map[string]source{"log-level": fromFile},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := map[string]string{}
			for k, v := range tt.env {
				e[k] = v
			}
			var path string
			if tt.file {
				path = writeFile(t, file)
				e["DANDAN_CONFIG"] = path
			}
			got, err := Load(flags(t, tt.args...), env(e))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := Default()
			tt.want(&want)
			want.src, want.file = got.src, got.file
			if got != want {
				t.Errorf("Load =\n%+v\nwant\n%+v", got, want)
			}
			for name, src := range tt.wantSrc {
				if g := got.src[index(name)]; g != src {
					t.Errorf("source of %s = %d, want %d", name, g, src)
				}
			}
			if got.file != path {
				t.Errorf("file = %q, want %q", got.file, path)
			}
		})
	}
}

func TestConfigFlagBeatsEnv(t *testing.T) {
	fromEnvFile := writeFile(t, `partitions = 3`)
	fromFlagFile := writeFile(t, `partitions = 5`)
	c, err := Load(flags(t, "--config", fromFlagFile), env(map[string]string{"DANDAN_CONFIG": fromEnvFile}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Partitions != 5 {
		t.Errorf("Partitions = %d, want 5 (from the --config file)", c.Partitions)
	}
	// --config "" means no file, even if DANDAN_CONFIG names one.
	c, err = Load(flags(t, "--config="), env(map[string]string{"DANDAN_CONFIG": fromEnvFile}))
	if err != nil || c.Partitions != 16 {
		t.Errorf("Load with --config= : Partitions = %d, %v; want 16, nil", c.Partitions, err)
	}
}

func TestFileErrors(t *testing.T) {
	tests := []struct {
		name, file string
		want       []string // substrings of the error
	}{
		{"unknown key", "data = \"x\"\n\nmax_members = 5\n", []string{`line 3: unknown key "max_members"`}},
		{"unknown keys", "foo = 1\nbar = 2\n", []string{`line 1: unknown key "foo"`, `line 2: unknown key "bar"`}},
		{"unknown table", "partitions = 4\n[server]\nport = 1\n", []string{`line 2: unknown key "server"`}},
		{"unknown dotted key", "server.port = 1\n", []string{`line 1: unknown key "server"`}},
		{"wrong case", "DATA = \"x\"\n", []string{`line 1: unknown key "DATA"`}},
		{"flag spelling", "max-room-members = 5\n", []string{`unknown key "max-room-members"`}},
		{"wrong type", "partitions = \"many\"\n", []string{"partitions"}},
		{"bad duration", "duplicate_window = \"soon\"\n", []string{"duplicate_window", "soon"}},
		{"syntax", "data = \n", []string{"line 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.file)
			_, err := Load(flags(t, "--config", path), nil)
			if err == nil {
				t.Fatalf("Load(%q) = nil error, want one containing %q", tt.file, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Load(%q) error = %q, want it to contain %q", tt.file, err, w)
				}
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file %s", err, path)
			}
		})
	}
	if _, err := Load(flags(t, "--config", filepath.Join(t.TempDir(), "missing.toml")), nil); err == nil {
		t.Errorf("Load with a missing file = nil error, want one")
	}
}

func TestBadEnv(t *testing.T) {
	tests := []struct {
		name, key, val, want string
	}{
		{"int", "DANDAN_PARTITIONS", "lots", `DANDAN_PARTITIONS: "lots" is not an integer`},
		{"float", "DANDAN_SEND_RATE", "fast", `DANDAN_SEND_RATE: "fast" is not a number`},
		{"duration", "DANDAN_DUPLICATE_WINDOW", "120", `DANDAN_DUPLICATE_WINDOW: "120" is not a duration`},
		{"range", "DANDAN_PARTITIONS", "0", "DANDAN_PARTITIONS must be between 1 and 1024"},
		{"enum", "DANDAN_LOG_LEVEL", "loud", `DANDAN_LOG_LEVEL must be one of`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(flags(t), env(map[string]string{tt.key: tt.val}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load with %s=%q: error %v, want it to contain %q", tt.key, tt.val, err, tt.want)
			}
		})
	}
	// All bad variables are reported, not just the first.
	_, err := Load(flags(t), env(map[string]string{"DANDAN_PARTITIONS": "x", "DANDAN_WS_QUEUE": "y"}))
	for _, w := range []string{"DANDAN_PARTITIONS", "DANDAN_WS_QUEUE"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v, want it to name %s", err, w)
		}
	}
}

func TestBadFlag(t *testing.T) {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	Register(fs)
	if err := fs.Parse([]string{"--partitions=many"}); err == nil {
		t.Errorf("Parse(--partitions=many) = nil, want an error")
	}
	_, err := Load(flags(t, "--ws-queue=8"), nil)
	if want := "--ws-queue must be between 16 and 65536"; err == nil || err.Error() != want {
		t.Errorf("Load(--ws-queue=8) error = %v, want %q", err, want)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(c *Config)
		want   string // the whole error; "" for valid
	}{
		{"defaults", func(c *Config) {}, ""},
		{"empty data", func(c *Config) { c.Data = "" }, "--data must not be empty"},
		{"http no port", func(c *Config) { c.HTTP = "localhost" }, "--http must be host:port, like 127.0.0.1:8080: address localhost: missing port in address"},
		{"http bad port", func(c *Config) { c.HTTP = ":99999" }, `--http must be host:port, like 127.0.0.1:8080: bad port "99999"`},
		{"http free port", func(c *Config) { c.HTTP = "127.0.0.1:0" }, ""},
		{"sync always", func(c *Config) { c.Sync = "always" }, ""},
		{"sync 1s", func(c *Config) { c.Sync = "1s" }, ""},
		{"sync bad", func(c *Config) { c.Sync = "often" }, `--sync must be "default", "always" or a positive duration like "1s", not "often"`},
		{"sync negative", func(c *Config) { c.Sync = "-1s" }, `--sync must be "default", "always" or a positive duration like "1s", not "-1s"`},
		{"log level", func(c *Config) { c.LogLevel = "INFO" }, `--log-level must be one of ["debug" "info" "warn" "error"], not "INFO"`},
		{"log format", func(c *Config) { c.LogFormat = "xml" }, `--log-format must be one of ["text" "json"], not "xml"`},
		{"tls cert only", func(c *Config) { c.TLSCert = "cert.pem" }, "--tls-cert and --tls-key must be set together"},
		{"tls key only", func(c *Config) { c.TLSKey = "key.pem" }, "--tls-cert and --tls-key must be set together"},
		{"tls both", func(c *Config) { c.TLSCert, c.TLSKey = "c", "k" }, ""},
		{"room members low", func(c *Config) { c.MaxRoomMembers = 1 }, "--max-room-members must be between 2 and 1000000"},
		{"room members high", func(c *Config) { c.MaxRoomMembers = 1_000_001 }, "--max-room-members must be between 2 and 1000000"},
		{"room members bounds", func(c *Config) { c.MaxRoomMembers = 2 }, ""},
		{"partitions", func(c *Config) { c.Partitions = 1025 }, "--partitions must be between 1 and 1024"},
		{"window short", func(c *Config) { c.DuplicateWindow = 9 * time.Second }, "--duplicate-window must be between 10s and 24h, not 9s"},
		{"window long", func(c *Config) { c.DuplicateWindow = 25 * time.Hour }, "--duplicate-window must be between 10s and 24h, not 25h0m0s"},
		{"rate negative", func(c *Config) { c.SendRate = -1 }, "--send-rate must be a number of events per second, 0 or more (0 = unlimited)"},
		{"rate zero", func(c *Config) { c.AuthRate = 0 }, ""},
		{"burst zero", func(c *Config) { c.RequestBurst = 0 }, "--request-burst must be between 1 and 1000000"},
		{"ws queue", func(c *Config) { c.WSQueue = 65537 }, "--ws-queue must be between 16 and 65536"},
		{"max inflight", func(c *Config) { c.MaxInFlight = 8 }, "--max-inflight must be between 16 and 1000000"},
		{"max memory", func(c *Config) { c.MaxMemory = 10 }, "--max-memory must be between 64 and 1073741824"},
		{"latency target", func(c *Config) { c.LatencyTarget = time.Millisecond }, "--latency-target must be between 10ms and 10s, not 1ms"},
		{"password hash", func(c *Config) { c.PasswordHash = "none" }, `--password-hash must be one of ["default" "fast"], not "none"`},
		{"metrics bad", func(c *Config) { c.MetricsAddr = "9090" }, `--metrics-addr must be host:port or "": address 9090: missing port in address`},
		{"metrics same", func(c *Config) { c.MetricsAddr = c.HTTP }, `--metrics-addr must differ from --http (leave it "" to serve /metrics there)`},
		{"metrics free ports", func(c *Config) { c.HTTP, c.MetricsAddr = ":0", ":0" }, ""},
		{"cluster ok", cluster(func(c *Config) {}), ""},
		{"cluster no secret", cluster(func(c *Config) { c.ClusterSecret = "short" }),
			"--cluster-secret must be at least 16 characters in a cluster (routes are always authenticated)"},
		{"cluster no dc", cluster(func(c *Config) { c.DC = "" }),
			"--dc must be set in a cluster: letters, digits, '-' or '_', up to 32"},
		{"cluster bad node", cluster(func(c *Config) { c.Node = "a b" }),
			"--node must be set in a cluster: letters, digits, '-' or '_', up to 32"},
		{"cluster bad peer", cluster(func(c *Config) { c.Peers = "10.0.0.2:7422, nope" }),
			`--peers must be host:port addresses separated by commas: "nope": address nope: missing port in address`},
		{"cluster half tls", cluster(func(c *Config) { c.ClusterTLSCert = "c.pem" }),
			"--cluster-tls-cert, --cluster-tls-key and --cluster-tls-ca must be set together"},
		{"peers without cluster", func(c *Config) { c.Peers = "10.0.0.2:7422" }, "--peers needs --cluster (the route listen address)"},
		{"advertise bad", func(c *Config) { c.Advertise = "dc1.example:8080" },
			`--advertise must be an http or https URL like https://dc1.chat.example, not "dc1.example:8080"`},
		{"replicas", func(c *Config) { c.Replicas = 7 }, "--replicas must be between 0 and 5"},
		{"several", func(c *Config) { c.Partitions, c.LogFormat = 0, "" },
			"--log-format must be one of [\"text\" \"json\"], not \"\"\n--partitions must be between 1 and 1024"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.modify(&c)
			got := ""
			if err := c.Validate(); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Validate() = %q, want %q", got, tt.want)
			}
		})
	}
}

// Errors name options the way the user set them.
// cluster returns modify applied to a valid cluster configuration.
func cluster(modify func(c *Config)) func(c *Config) {
	return func(c *Config) {
		c.Cluster, c.Peers, c.DC, c.Node = "0.0.0.0:7422", "10.0.0.2:7422,10.0.0.3:7422", "dc1", "dc1-a"
		c.ClusterSecret = "0123456789abcdef"
		modify(c)
	}
}

func TestClusterDefaults(t *testing.T) {
	c, err := Load(flags(t, "--cluster=127.0.0.1:7422", "--dc=dc1", "--node=n1"),
		env(map[string]string{"DANDAN_CLUSTER_SECRET": "0123456789abcdef"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Sync != "always" || c.EffectiveReplicas() != 3 {
		t.Errorf("cluster: sync %q, replicas %d; want always, 3", c.Sync, c.EffectiveReplicas())
	}
	if d := c.Describe(); strings.Contains(d, "0123456789abcdef") || !strings.Contains(d, `sync = "always"`) ||
		!strings.Contains(d, "# default in a cluster") {
		t.Errorf("Describe:\n%s", d)
	}
	c, err = Load(flags(t, "--cluster=127.0.0.1:7422", "--dc=dc1", "--node=n1", "--sync=1s", "--replicas=5"),
		env(map[string]string{"DANDAN_CLUSTER_SECRET": "0123456789abcdef"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Sync != "1s" || c.EffectiveReplicas() != 5 {
		t.Errorf("explicit: sync %q, replicas %d; want 1s, 5", c.Sync, c.EffectiveReplicas())
	}
	if d := Default(); d.Sync != "default" || d.EffectiveReplicas() != 1 {
		t.Errorf("single node: sync %q, replicas %d; want default, 1", d.Sync, d.EffectiveReplicas())
	}
}

func TestValidateLabels(t *testing.T) {
	path := writeFile(t, "max_room_members = 1\n")
	_, err := Load(flags(t, "--log-format=xml"), env(map[string]string{
		"DANDAN_CONFIG":     path,
		"DANDAN_PARTITIONS": "0",
	}))
	if err == nil {
		t.Fatal("Load = nil error, want three")
	}
	for _, want := range []string{
		"max_room_members (in " + path + ") must be between 2 and 1000000",
		"DANDAN_PARTITIONS must be between 1 and 1024",
		`--log-format must be one of`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q, want it to contain %q", err, want)
		}
	}
}

func TestSyncInterval(t *testing.T) {
	tests := []struct {
		sync       string
		wantAlways bool
		want       time.Duration
	}{
		{"default", false, 2 * time.Minute},
		{"always", true, 0},
		{"1s", false, time.Second},
		{"250ms", false, 250 * time.Millisecond},
		{"bogus", false, 2 * time.Minute},
		{"-5s", false, 2 * time.Minute},
	}
	for _, tt := range tests {
		c := Default()
		c.Sync = tt.sync
		always, got := c.SyncInterval()
		if always != tt.wantAlways || got != tt.want {
			t.Errorf("SyncInterval(%q) = %v, %v; want %v, %v", tt.sync, always, got, tt.wantAlways, tt.want)
		}
	}
}
