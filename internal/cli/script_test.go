package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/dandanchat/dandan/internal/cli"
	"github.com/dandanchat/dandan/internal/config"
	"github.com/dandanchat/dandan/internal/testnode"
)

// TestScripts runs testdata/script/*.txtar, each against a node of its own
// (DANDAN_SERVER) with DANDAN_HOME=$WORK/home. Commands:
//
//	dandan [<FILE] ARGS...   cli.Main in-process; <FILE is its standard input
//	setvar NAME REGEXP       NAME = the first group of REGEXP in the last stdout
//	json PATH=VALUE...       the last stdout is JSON with these values; PATH is
//	                         dotted (events.0.text), PATH.# is a length
//
// scriptAdminToken is the scripts' node's admin token.
const scriptAdminToken = "script-admin-token-0123456789"

func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/script/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			t.Parallel()
			n := testnode.Start(t, func(c *config.Config) { c.AdminToken = scriptAdminToken })
			testscript.Run(t, testscript.Params{
				Files: []string{file},
				Setup: func(e *testscript.Env) error {
					e.Setenv("DANDAN_SERVER", "http://"+n.Config.HTTP)
					e.Setenv("ADMIN_TOKEN", scriptAdminToken)
					e.Setenv("DANDAN_HOME", filepath.Join(e.WorkDir, "home"))
					return nil
				},
				Cmds: map[string]func(*testscript.TestScript, bool, []string){
					"dandan": cmdDandan,
					"setvar": cmdSetvar,
					"json":   cmdJSON,
				},
			})
		})
	}
}

func cmdDandan(ts *testscript.TestScript, neg bool, args []string) {
	stdin := ""
	if len(args) > 0 && strings.HasPrefix(args[0], "<") {
		stdin = ts.ReadFile(args[0][1:])
		args = args[1:]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := cli.Main(ctx, args, cli.Env{
		Stdin:  strings.NewReader(stdin),
		Stdout: ts.Stdout(),
		Stderr: ts.Stderr(),
		Getenv: ts.Getenv,
	})
	switch {
	case neg && code == 0:
		ts.Fatalf("dandan succeeded unexpectedly")
	case !neg && code != 0:
		ts.Fatalf("dandan failed: exit %d", code)
	}
}

func cmdSetvar(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: setvar NAME REGEXP")
	}
	m := regexp.MustCompile("(?m)" + args[1]).FindStringSubmatch(ts.ReadFile("stdout"))
	if len(m) < 2 {
		ts.Fatalf("setvar: no match for %q in stdout", args[1])
	}
	ts.Setenv(args[0], m[1])
}

func cmdJSON(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) == 0 {
		ts.Fatalf("usage: json PATH=VALUE...")
	}
	dec := json.NewDecoder(strings.NewReader(ts.ReadFile("stdout")))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		ts.Fatalf("json: stdout is not JSON: %v", err)
	}
	if dec.More() {
		ts.Fatalf("json: stdout holds more than one document")
	}
	for _, a := range args {
		path, want, ok := strings.Cut(a, "=")
		if !ok {
			ts.Fatalf("json: %q is not PATH=VALUE", a)
		}
		got, err := lookup(doc, path)
		switch {
		case err != nil && !neg:
			ts.Fatalf("json: %s: %v", path, err)
		case err == nil && got == want && neg:
			ts.Fatalf("json: %s is %q", path, got)
		case err == nil && got != want && !neg:
			ts.Fatalf("json: %s is %q, want %q", path, got, want)
		}
	}
}

// lookup follows a dotted path; a final # is the length of an array or object.
func lookup(v any, path string) (string, error) {
	var parts []string
	if path != "" && path != "." {
		parts = strings.Split(path, ".")
	}
	for _, p := range parts {
		switch x := v.(type) {
		case map[string]any:
			if p == "#" {
				return strconv.Itoa(len(x)), nil
			}
			f, ok := x[p]
			if !ok {
				return "", fmt.Errorf("no field %q", p)
			}
			v = f
		case []any:
			if p == "#" {
				return strconv.Itoa(len(x)), nil
			}
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(x) {
				return "", fmt.Errorf("no element %q in an array of %d", p, len(x))
			}
			v = x[i]
		default:
			return "", fmt.Errorf("%q: not an array or object", p)
		}
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case nil:
		return "null", nil
	case map[string]any, []any:
		b, _ := json.Marshal(x)
		return string(b), nil
	}
	return fmt.Sprint(v), nil
}
