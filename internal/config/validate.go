package config

import (
	"errors"
	"fmt"
	"math"
	"net"
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
	if c.MetricsAddr != "" {
		if err := checkAddr(c.MetricsAddr); err != nil {
			bad("metrics-addr", `must be host:port or "": %v`, err)
		} else if _, port, _ := net.SplitHostPort(c.MetricsAddr); c.MetricsAddr == c.HTTP && port != "0" {
			bad("metrics-addr", `must differ from %s (leave it "" to serve /metrics there)`, c.label("http"))
		}
	}
	return errors.Join(errs...)
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
