package config

import (
	"strings"
	"testing"
)

func TestDescribe(t *testing.T) {
	path := writeFile(t, "partitions = 4\n")
	c, err := Load(flags(t, "--log-level=debug"), env(map[string]string{
		"DANDAN_CONFIG":    path,
		"DANDAN_SEND_RATE": "12.5",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	got := c.Describe()
	for _, want := range []string{
		"(file " + path + ")",
		`data = "./dandan-data"`,
		"partitions = 4 ",
		"# file\n",
		`log_level = "debug"`,
		"# --log-level\n",
		"send_rate = 12.5 ",
		"# DANDAN_SEND_RATE\n",
		"auth_rate = 5.0 ",
		`duplicate_window = "2m0s"`,
		`metrics_addr = ""`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Describe() =\n%s\nwant it to contain %q", got, want)
		}
	}
	if n := strings.Count(got, "\n"); n != numOptions+1 {
		t.Errorf("Describe() has %d lines, want %d", n, numOptions+1)
	}
}

// Describe's output is a config file that loads back to the same values.
func TestDescribeRoundTrip(t *testing.T) {
	c := Default()
	c.HTTP, c.SendRate, c.Sync, c.TLSCert, c.TLSKey = "0.0.0.0:443", 0.25, "always", "c.pem", "k.pem"
	path := writeFile(t, c.Describe())
	got, err := Load(nil, env(map[string]string{"DANDAN_CONFIG": path}))
	if err != nil {
		t.Fatalf("Load(Describe()): %v\n%s", err, c.Describe())
	}
	got.src, got.file = c.src, c.file
	if got != c {
		t.Errorf("Load(Describe()) = %+v, want %+v", got, c)
	}
}

func TestDescribeRedactsSecrets(t *testing.T) {
	c := Default()
	c.TLSKey = "hunter2"
	opts := options()
	for i := range opts {
		if opts[i].name == "tls-key" {
			opts[i].secret = true
		}
	}
	got := c.describe(opts)
	if strings.Contains(got, "hunter2") {
		t.Errorf("describe() printed a secret:\n%s", got)
	}
	if !strings.Contains(got, `tls_key = "(redacted)"`) {
		t.Errorf("describe() =\n%s\nwant tls_key redacted", got)
	}
}
