package config

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spf13/pflag"
)

// Load builds the configuration from, in decreasing precedence: the flags of
// fs set explicitly on the command line, the environment read with getenv
// (an empty variable counts as unset), the TOML file named by --config or
// $DANDAN_CONFIG, and the defaults. fs should have been set up by Register
// and parsed; it may be nil, as may getenv. The result is validated; all
// problems found are joined in the error.
func Load(fs *pflag.FlagSet, getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	flag := func(name string) (string, bool) {
		if fs == nil {
			return "", false
		}
		f := fs.Lookup(name)
		if f == nil || !f.Changed {
			return "", false
		}
		return f.Value.String(), true
	}

	c := Default()
	path, ok := flag(configFlag)
	if !ok {
		path = getenv(configEnv)
	}
	if path != "" {
		if err := c.loadFile(path); err != nil {
			return c, err
		}
	}

	var errs []error
	for i, o := range options() {
		if v := getenv(o.env()); v != "" {
			if err := set(o.field(&c), v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", o.env(), err))
				continue
			}
			c.src[i] = fromEnv
		}
	}
	for i, o := range options() {
		if v, ok := flag(o.name); ok {
			if err := set(o.field(&c), v); err != nil {
				errs = append(errs, fmt.Errorf("--%s: %w", o.name, err))
				continue
			}
			c.src[i] = fromFlag
		}
	}
	if len(errs) > 0 {
		return c, errors.Join(errs...)
	}
	if i := index("sync"); c.Clustered() && c.src[i] == fromDefault {
		c.Sync = "always" // a cluster fsyncs before every acknowledgement unless told otherwise
		c.src[i] = fromClusterDefault
	}
	return c, c.Validate()
}

// set parses s into the field p points to.
func set(p any, s string) error {
	switch p := p.(type) {
	case *string:
		*p = s
	case *int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not an integer", s)
		}
		*p = n
	case *float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		*p = f
	case *time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration like 90s or 2m", s)
		}
		*p = d
	default:
		return fmt.Errorf("unsupported type %T", p)
	}
	return nil
}

// loadFile decodes the TOML file at path over c and records which options it
// set. A key that is not an option, spelled exactly, is an error.
func (c *Config) loadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	md, err := toml.Decode(string(data), c)
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	c.file = path

	known := make(map[string]bool, numOptions)
	for i, o := range options() {
		known[o.key()] = true
		if md.IsDefined(o.key()) {
			c.src[i] = fromFile
		}
	}
	// Undecoded finds keys that fit no field; the exact check also catches
	// keys the decoder matched case-insensitively, like DATA.
	var unknown []string
	seen := make(map[string]bool)
	add := func(k toml.Key) {
		if top := k[0]; !known[top] && !seen[top] {
			seen[top] = true
			unknown = append(unknown, top)
		}
	}
	for _, k := range md.Undecoded() {
		add(k)
	}
	for _, k := range md.Keys() {
		add(k)
	}
	var errs []error
	for _, k := range unknown {
		if line := keyLine(data, k); line > 0 {
			errs = append(errs, fmt.Errorf("config file %s: line %d: unknown key %q", path, line, k))
		} else {
			errs = append(errs, fmt.Errorf("config file %s: unknown key %q", path, k))
		}
	}
	return errors.Join(errs...)
}

// keyLine returns the 1-based line where the top-level key k is first set
// or opened as a table, or 0 if it cannot tell. The TOML decoder does not
// expose key positions, so this is a best-effort scan.
func keyLine(data []byte, k string) int {
	re, err := regexp.Compile(`^\s*(\[\[?\s*)?["']?` + regexp.QuoteMeta(k) + `["']?\s*[=.\]]`)
	if err != nil {
		return 0
	}
	for i, line := range strings.Split(string(data), "\n") {
		if re.MatchString(line) {
			return i + 1
		}
	}
	return 0
}
