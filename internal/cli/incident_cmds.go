package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/spf13/cobra"
)

// newIncident is `dandan incident …`: the operators' incident commands,
// over the node's /v1/admin/ API with the admin token.
func newIncident(env Env) *cobra.Command {
	var server, token string
	cmd := &cobra.Command{
		Use:   "incident",
		Short: "Open, update, list and export incidents (operators; needs the node's --admin-token)",
		Long: `Incidents appear on every node's status page (/status). dandan opens and
resolves incidents by itself when a data centre is lost; operators open
their own and move them through investigating → identified → monitoring →
resolved, with public updates and a postmortem.`,
		Example: `  dandan incident create --name "Slow sign-in" --severity SEV2 --component signin --body "We are looking into it."
  dandan incident update i7f… --status identified --body "A slow disk on one node."
  dandan incident list
  dandan incident export i7f… > incident.md`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&server, "server", "", "the node's URL [$DANDAN_SERVER] (default http://127.0.0.1:8080)")
	pf.StringVar(&token, "admin-token", "", "the node's admin token [$DANDAN_ADMIN_TOKEN]")
	call := func(ctx context.Context, method, path string, body any) ([]byte, error) {
		return adminCall(ctx, env, server, token, method, path, body)
	}
	var req struct {
		name, severity, status, body string
		components                   []string
	}
	printIncident := func(w io.Writer, b []byte) error {
		var inc api.Incident
		if err := json.Unmarshal(b, &inc); err != nil {
			return err
		}
		_, err := fmt.Fprintf(w, "%s  %s  %s  %s\n", inc.ID, inc.Severity, inc.Status, inc.Name)
		return err
	}
	create := &cobra.Command{
		Use: "create", Short: "Open an incident", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			b, err := call(c.Context(), http.MethodPost, "/v1/admin/incidents", map[string]any{
				"name": req.name, "severity": req.severity, "status": req.status, "body": req.body, "components": req.components})
			if err != nil {
				return err
			}
			return printIncident(env.Stdout, b)
		},
	}
	update := &cobra.Command{
		Use: "update ID", Short: "Change an incident's status, severity or name, or post an update", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			body := map[string]any{"name": req.name, "severity": req.severity, "status": req.status, "body": req.body}
			if len(req.components) > 0 {
				body["components"] = req.components
			}
			b, err := call(c.Context(), http.MethodPatch, "/v1/admin/incidents/"+args[0], body)
			if err != nil {
				return err
			}
			return printIncident(env.Stdout, b)
		},
	}
	for _, c := range []*cobra.Command{create, update} {
		f := c.Flags()
		f.StringVar(&req.name, "name", "", "what users see as the incident's title")
		f.StringVar(&req.severity, "severity", "", "SEV1 (worst) to SEV4; default SEV3 on create")
		f.StringVar(&req.status, "status", "", "investigating, identified, monitoring or resolved")
		f.StringVar(&req.body, "body", "", "a public update")
		f.StringSliceVar(&req.components, "component", nil, "an affected component: messaging, signin, history, dc:<name> (repeatable)")
	}
	list := &cobra.Command{
		Use: "list", Short: "List incidents, newest first", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			b, err := call(c.Context(), http.MethodGet, "/v1/admin/incidents", nil)
			if err != nil {
				return err
			}
			var incs []json.RawMessage
			if err := json.Unmarshal(b, &incs); err != nil {
				return err
			}
			for _, inc := range incs {
				if err := printIncident(env.Stdout, inc); err != nil {
					return err
				}
			}
			return nil
		},
	}
	export := &cobra.Command{
		Use: "export ID", Short: "Print an incident's journal (timeline, updates, postmortem) as Markdown", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			b, err := call(c.Context(), http.MethodGet, "/v1/admin/incidents/"+args[0]+"/export", nil)
			if err != nil {
				return err
			}
			_, err = env.Stdout.Write(b)
			return err
		},
	}
	cmd.AddCommand(create, update, list, export)
	return cmd
}

// adminCall makes a request to a node's operators' API (/v1/admin/…) and
// returns the answer's body; an error answer becomes its *api.Error.
func adminCall(ctx context.Context, env Env, server, token, method, path string, body any) ([]byte, error) {
	if token == "" {
		token = env.Getenv("DANDAN_ADMIN_TOKEN")
	}
	if server == "" {
		server = env.Getenv("DANDAN_SERVER")
	}
	if server == "" {
		server = "http://127.0.0.1:8080"
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(server, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var eb api.ErrorBody
		if json.Unmarshal(b, &eb) == nil && eb.Error != nil {
			return nil, eb.Error
		}
		return nil, fmt.Errorf("%s answered %s", server, resp.Status)
	}
	return b, nil
}

// newMaintenance is `dandan maintenance …`: scheduled maintenance windows,
// shown on every node's status page, over the operators' API.
func newMaintenance(env Env) *cobra.Command {
	var server, token string
	cmd := &cobra.Command{
		Use:   "maintenance",
		Short: "Schedule, list and complete maintenance windows (operators; needs the node's --admin-token)",
		Long: `A scheduled window shows on every node's status page; while it runs, its
components show "under maintenance". A window still open after its
scheduled end opens an incident by itself; completing it resolves that.`,
		Example: `  dandan maintenance schedule --name "Storage upgrade" --from 2026-12-01T01:00:00Z --until 2026-12-01T03:00:00Z --component dc:dc2
  dandan maintenance list
  dandan maintenance complete w7f…`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&server, "server", "", "the node's URL [$DANDAN_SERVER] (default http://127.0.0.1:8080)")
	pf.StringVar(&token, "admin-token", "", "the node's admin token [$DANDAN_ADMIN_TOKEN]")
	printWindow := func(b []byte) error {
		var w api.Maintenance
		if err := json.Unmarshal(b, &w); err != nil {
			return err
		}
		_, err := fmt.Fprintf(env.Stdout, "%s  %s  %s – %s  %s\n", w.ID, w.Status, w.ScheduledFor, w.ScheduledUntil, w.Name)
		return err
	}
	var req struct {
		name, from, until, body string
		components              []string
	}
	schedule := &cobra.Command{
		Use: "schedule", Short: "Schedule a maintenance window", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			b, err := adminCall(c.Context(), env, server, token, http.MethodPost, "/v1/admin/maintenance", map[string]any{
				"name": req.name, "scheduled_for": req.from, "scheduled_until": req.until, "body": req.body, "components": req.components})
			if err != nil {
				return err
			}
			return printWindow(b)
		},
	}
	f := schedule.Flags()
	f.StringVar(&req.name, "name", "", "what users see")
	f.StringVar(&req.from, "from", "", "when it begins, RFC 3339 (e.g. 2026-12-01T01:00:00Z)")
	f.StringVar(&req.until, "until", "", "when it is planned to end, RFC 3339")
	f.StringVar(&req.body, "body", "", "what will happen, for users")
	f.StringSliceVar(&req.components, "component", nil, "an affected component: messaging, signin, history, dc:<name> (repeatable)")
	list := &cobra.Command{
		Use: "list", Short: "List maintenance windows", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			b, err := adminCall(c.Context(), env, server, token, http.MethodGet, "/v1/admin/maintenance", nil)
			if err != nil {
				return err
			}
			var ws []json.RawMessage
			if err := json.Unmarshal(b, &ws); err != nil {
				return err
			}
			for _, w := range ws {
				if err := printWindow(w); err != nil {
					return err
				}
			}
			return nil
		},
	}
	complete := &cobra.Command{
		Use: "complete ID", Short: "End a maintenance window", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			b, err := adminCall(c.Context(), env, server, token, http.MethodPatch, "/v1/admin/maintenance/"+args[0], map[string]any{"status": "completed"})
			if err != nil {
				return err
			}
			return printWindow(b)
		},
	}
	drain := &cobra.Command{
		Use:   "drain NODE",
		Short: "Make a node a lame duck: its streams and clients move to other nodes; stop it afterwards",
		Long: `NODE is a node's name (looked up with the server's /v1/cluster) or its URL.
The node hands the message streams it leads to other replicas, closes its
clients' connections so that they reconnect elsewhere, refuses new ones and
answers /readyz with 503; it keeps running until it is stopped.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			url := args[0]
			if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
				b, err := adminCall(c.Context(), env, server, token, http.MethodGet, "/v1/cluster", nil)
				if err != nil {
					return err
				}
				var cl api.Cluster
				if err := json.Unmarshal(b, &cl); err != nil {
					return err
				}
				url = ""
				for _, n := range cl.Nodes {
					if n.Name == args[0] {
						url = n.URL
					}
				}
				if url == "" {
					return api.Errorf(api.CodeNotFound, "no node %q in the cluster", args[0])
				}
			}
			b, err := adminCall(c.Context(), env, url, token, http.MethodPost, "/v1/admin/drain", nil)
			if err != nil {
				return err
			}
			var out struct {
				Node   string `json:"node"`
				Handed int    `json:"streams_handed"`
			}
			if err := json.Unmarshal(b, &out); err != nil {
				return err
			}
			_, err = fmt.Fprintf(env.Stdout, "%s is draining: %d streams handed to other nodes, clients sent elsewhere; stop it when ready\n", out.Node, out.Handed)
			return err
		},
	}
	cmd.AddCommand(schedule, list, complete, drain)
	return cmd
}
