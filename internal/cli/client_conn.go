package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/client"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// defaultServer is used when neither --server, DANDAN_SERVER nor the session
// file names one.
const defaultServer = "http://127.0.0.1:8080"

// clientFlags are the flags every client command has.
type clientFlags struct {
	env    Env
	server string
	token  string
	json   bool
}

// addClientFlags adds --server, --token and (if withJSON) --json to cmd.
func addClientFlags(env Env, cmd *cobra.Command, withJSON bool) *clientFlags {
	f := &clientFlags{env: env}
	fs := cmd.Flags()
	fs.StringVar(&f.server, "server", "", "server URL; a comma-separated list of every site's address for failover\n(default: $DANDAN_SERVER, else the session's servers, else "+defaultServer+")")
	fs.StringVar(&f.token, "token", "", "token to authenticate with (default: $DANDAN_TOKEN, else the session file's)")
	if withJSON {
		fs.BoolVar(&f.json, "json", false, "print the API object(s) as one JSON document")
	}
	return f
}

// conn is a client configured from the flags, environment and session file.
type conn struct {
	*client.Client
	env         Env
	json        bool
	sess        *savedSession // the session file, or nil
	fromSession bool          // the token is the session file's
}

// connect builds the client. With auth, a token is required.
func (f *clientFlags) connect(auth bool) (*conn, error) {
	sess, serr := loadSession(f.env)
	cn := &conn{env: f.env, json: f.json, sess: sess}
	token := f.token
	if token == "" {
		token = getenv(f.env, "DANDAN_TOKEN")
	}
	if token == "" && sess != nil {
		token, cn.fromSession = sess.Token, true
	}
	if auth && token == "" {
		if serr != nil {
			return nil, serr
		}
		return nil, api.Errorf(api.CodeUnauthorized, "not signed in: run `dandan login HANDLE` (or pass --token)")
	}
	servers := splitList(f.server)
	if len(servers) == 0 {
		servers = splitList(getenv(f.env, "DANDAN_SERVER"))
	}
	if len(servers) == 0 && sess != nil {
		servers = sess.Servers
	}
	if len(servers) == 0 {
		servers = []string{defaultServer}
	}
	c, err := client.New(client.Options{Servers: servers, Token: token, UserAgent: "dandan-cli"})
	if err != nil {
		return nil, err
	}
	cn.Client = c
	return cn, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// print writes v as JSON with --json, else calls human.
func (cn *conn) print(v any, human func(w io.Writer)) error {
	if cn.json {
		return writeJSON(cn.env.Stdout, v)
	}
	human(cn.env.Stdout)
	return nil
}

// ok is the JSON answer of commands that return no API object.
type ok struct {
	OK bool `json:"ok"`
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// terminalFD returns the file descriptor of r if it is a terminal.
func terminalFD(r any) (int, bool) {
	f, isFile := r.(*os.File)
	if !isFile {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// usageError is a bad command line, with the code of a bad request.
func usageError(format string, args ...any) error {
	return api.Errorf(api.CodeInvalid, format, args...)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
