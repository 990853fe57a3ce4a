package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"time"
)

// Validate checks every option and returns all problems joined, each naming
// the option as the user wrote it: --flag, DANDAN_VAR or the file key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s "+format, append([]any{c.label(name)}, args...)...))
	}
	intRange := func(name string, v, lo, hi int) {
		if v < lo || v > hi {
			bad(name, "must be between %d and %d", lo, hi)
		}
	}
	rateOK := func(name string, v float64) {
		if !(v >= 0) || math.IsInf(v, 0) {
			bad(name, "must be a number of events per second, 0 or more (0 = unlimited)")
		}
	}
	oneOf := func(name, v string, allowed ...string) {
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		bad(name, "must be one of %q, not %q", allowed, v)
	}

	if c.Data == "" {
		bad("data", "must not be empty")
	}
	if err := checkAddr(c.HTTP); err != nil {
		bad("http", "must be host:port, like 127.0.0.1:8080: %v", err)
	}
	switch c.Sync {
	case "default", "always":
	default:
		if d, err := time.ParseDuration(c.Sync); err != nil || d <= 0 {
			bad("sync", `must be "default", "always" or a positive duration like "1s", not %q`, c.Sync)
		}
	}
	oneOf("log-level", c.LogLevel, "debug", "info", "warn", "error")
	oneOf("log-format", c.LogFormat, "text", "json")
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, fmt.Errorf("%s and %s must be set together", c.label("tls-cert"), c.label("tls-key")))
	}
	intRange("max-room-members", c.MaxRoomMembers, 2, 1_000_000)
	intRange("partitions", c.Partitions, 1, 1024)
	if c.DuplicateWindow < 10*time.Second || c.DuplicateWindow > 24*time.Hour {
		bad("duplicate-window", "must be between 10s and 24h, not %v", c.DuplicateWindow)
	}
	rateOK("send-rate", c.SendRate)
	intRange("send-burst", c.SendBurst, 1, 1_000_000)
	rateOK("auth-rate", c.AuthRate)
	intRange("auth-burst", c.AuthBurst, 1, 1_000_000)
	rateOK("request-rate", c.RequestRate)
	intRange("request-burst", c.RequestBurst, 1, 1_000_000)
	intRange("ws-queue", c.WSQueue, 16, 65536)
	oneOf("password-hash", c.PasswordHash, "default", "fast")
	intRange("max-inflight", c.MaxInFlight, 16, 1_000_000)
	if c.SMTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.SMTPAddr); err != nil {
			bad("smtp-addr", "must be host:port")
		}
		if a, err := mail.ParseAddress(c.SMTPFrom); err != nil || a.Address != c.SMTPFrom {
			bad("smtp-from", "must be a plain email address when --smtp-addr is set")
		}
	}
	if c.AdminToken != "" && len(c.AdminToken) < 24 {
		bad("admin-token", "must be at least 24 characters (or empty to disable the operators' API)")
	}
	if c.MaxMemory != 0 {
		intRange("max-memory", c.MaxMemory, 64, 1<<30)
	}
	if c.CanaryEvery != 0 && (c.CanaryEvery < time.Second || c.CanaryEvery > time.Hour) {
		bad("canary-every", "must be 0 (none) or between 1s and 1h, not %v", c.CanaryEvery)
	}
	if c.LatencyTarget < 10*time.Millisecond || c.LatencyTarget > 10*time.Second {
		bad("latency-target", "must be between 10ms and 10s, not %v", c.LatencyTarget)
	}
	if c.MetricsAddr != "" {
		if err := checkAddr(c.MetricsAddr); err != nil {
			bad("metrics-addr", `must be host:port or "": %v`, err)
		} else if _, port, _ := net.SplitHostPort(c.MetricsAddr); c.MetricsAddr == c.HTTP && port != "0" {
			bad("metrics-addr", `must differ from %s (leave it "" to serve /metrics there)`, c.label("http"))
		}
	}
	if c.Clustered() {
		if err := checkAddr(c.Cluster); err != nil {
			bad("cluster", "must be host:port, like 0.0.0.0:7422: %v", err)
		}
		for _, p := range c.PeerList() {
			if err := checkAddr(p); err != nil {
				bad("peers", "must be host:port addresses separated by commas: %q: %v", p, err)
			}
		}
		if !validName(c.DC) {
			bad("dc", "must be set in a cluster: letters, digits, '-' or '_', up to 32")
		}
		if !validName(c.Node) {
			bad("node", "must be set in a cluster: letters, digits, '-' or '_', up to 32")
		}
		if len(c.ClusterSecret) < 16 {
			bad("cluster-secret", "must be at least 16 characters in a cluster (routes are always authenticated)")
		}
		set := 0
		for _, f := range []string{c.ClusterTLSCert, c.ClusterTLSKey, c.ClusterTLSCA} {
			if f != "" {
				set++
			}
		}
		if set != 0 && set != 3 {
			errs = append(errs, fmt.Errorf("%s, %s and %s must be set together", c.label("cluster-tls-cert"),
				c.label("cluster-tls-key"), c.label("cluster-tls-ca")))
		}
	} else if c.Peers != "" {
		bad("peers", "needs %s (the route listen address)", c.label("cluster"))
	}
	if c.Advertise != "" {
		if u, err := url.Parse(c.Advertise); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("advertise", "must be an http or https URL like https://dc1.chat.example, not %q", c.Advertise)
		}
	}
	intRange("replicas", c.Replicas, 0, 5)
	return errors.Join(errs...)
}

// validName reports whether s is a usable data centre or node name.
func validName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// label names the option with flag name as the user set it.
func (c *Config) label(name string) string {
	i := index(name)
	if i < 0 {
		return "--" + name
	}
	o := options()[i]
	switch c.src[i] {
	case fromEnv:
		return o.env()
	case fromFile:
		return fmt.Sprintf("%s (in %s)", o.key(), c.file)
	default:
		return "--" + name
	}
}

func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("bad port %q", port)
	}
	return nil
}
