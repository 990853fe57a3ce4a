package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/dandanchat/dandan/api"
	"github.com/spf13/cobra"
)

// newSubscriber is `dandan subscriber …`: who is told about incidents, by
// webhook or email, over the operators' API.
func newSubscriber(env Env) *cobra.Command {
	var server, token string
	cmd := &cobra.Command{
		Use:   "subscriber",
		Short: "Add, list, test and remove status subscribers: webhooks and email (operators; needs --admin-token)",
		Long: `Every incident opened, updated or resolved (automatically or by an operator)
is sent to each subscriber: a webhook gets a JSON POST signed with
HMAC-SHA256 in the X-Dandan-Signature header (its secret is printed once, when
it is added); an email address gets a plain-text message, when the nodes are
configured with --smtp-addr and --smtp-from. Failed deliveries are retried
for about a day.`,
		Example: `  dandan subscriber add --webhook https://ops.example/hooks/dandan
  dandan subscriber add --email oncall@example.com --component dc:dc2
  dandan subscriber list
  dandan subscriber test s7f…
  dandan subscriber remove s7f…`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&server, "server", "", "the node's URL [$DANDAN_SERVER] (default http://127.0.0.1:8080)")
	pf.StringVar(&token, "admin-token", "", "the node's admin token [$DANDAN_ADMIN_TOKEN]")
	var req struct {
		webhook, email string
		components     []string
	}
	add := &cobra.Command{
		Use: "add", Short: "Add a webhook or an email subscriber", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			b, err := adminCall(c.Context(), env, server, token, http.MethodPost, "/v1/admin/subscribers", map[string]any{
				"webhook": req.webhook, "email": req.email, "components": req.components})
			if err != nil {
				return err
			}
			var s api.Subscriber
			if err := json.Unmarshal(b, &s); err != nil {
				return err
			}
			printSubscriber(env, s)
			if s.Secret != "" {
				fmt.Fprintf(env.Stdout, "secret: %s\n(shown once: verify each delivery's X-Dandan-Signature, \"sha256=\" + hex HMAC-SHA256 of the body with it)\n", s.Secret)
			}
			return nil
		},
	}
	f := add.Flags()
	f.StringVar(&req.webhook, "webhook", "", "an http(s) URL to POST notifications to")
	f.StringVar(&req.email, "email", "", "an email address")
	f.StringSliceVar(&req.components, "component", nil, "only incidents touching this component (repeatable; default: every incident)")
	list := &cobra.Command{
		Use: "list", Short: "List subscribers", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			b, err := adminCall(c.Context(), env, server, token, http.MethodGet, "/v1/admin/subscribers", nil)
			if err != nil {
				return err
			}
			var subs []api.Subscriber
			if err := json.Unmarshal(b, &subs); err != nil {
				return err
			}
			for _, s := range subs {
				printSubscriber(env, s)
			}
			return nil
		},
	}
	byID := func(use, short, method, suffix, done string) *cobra.Command {
		return &cobra.Command{
			Use: use + " ID", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(c *cobra.Command, args []string) error {
				if _, err := adminCall(c.Context(), env, server, token, method, "/v1/admin/subscribers/"+args[0]+suffix, nil); err != nil {
					return err
				}
				_, err := fmt.Fprintf(env.Stdout, "%s %s\n", args[0], done)
				return err
			},
		}
	}
	cmd.AddCommand(add, list,
		byID("test", "Send a subscriber a test notification", http.MethodPost, "/test", "queued a test notification"),
		byID("remove", "Remove a subscriber", http.MethodDelete, "", "removed"))
	return cmd
}

func printSubscriber(env Env, s api.Subscriber) {
	to, scope := s.Webhook, "every incident"
	if s.Email != "" {
		to = "mailto:" + s.Email
	}
	if len(s.Components) > 0 {
		scope = strings.Join(s.Components, ",")
	}
	fmt.Fprintf(env.Stdout, "%s  %s  %s\n", s.ID, to, scope)
}
