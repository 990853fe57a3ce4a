package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Describe returns the effective configuration as TOML, each option with a
// comment saying where its value came from. Secret options are redacted.
func (c Config) Describe() string {
	return c.describe(options())
}

func (c Config) describe(opts []option) string {
	var b strings.Builder
	if c.file != "" {
		fmt.Fprintf(&b, "# dandan configuration (file %s)\n", c.file)
	} else {
		b.WriteString("# dandan configuration (no file)\n")
	}
	lines := make([][2]string, len(opts))
	width := 0
	for i, o := range opts {
		lines[i][0] = o.key() + " = " + format(o.field(&c), o.secret)
		width = max(width, len(lines[i][0]))
		switch c.src[i] {
		case fromFlag:
			lines[i][1] = "--" + o.name
		case fromEnv:
			lines[i][1] = o.env()
		case fromFile:
			lines[i][1] = "file"
		case fromClusterDefault:
			lines[i][1] = "default in a cluster"
		default:
			lines[i][1] = "default"
		}
	}
	for _, l := range lines {
		fmt.Fprintf(&b, "%-*s  # %s\n", width, l[0], l[1])
	}
	return b.String()
}

// format renders the value p points to as a TOML value.
func format(p any, secret bool) string {
	switch p := p.(type) {
	case *string:
		if secret && *p != "" {
			return `"(redacted)"`
		}
		return strconv.Quote(*p)
	case *int:
		return strconv.Itoa(*p)
	case *float64:
		s := strconv.FormatFloat(*p, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEnN") {
			s += ".0"
		}
		return s
	case *time.Duration:
		return strconv.Quote(p.String())
	default:
		return fmt.Sprintf("%v", p)
	}
}
