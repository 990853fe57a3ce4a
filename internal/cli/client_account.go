package cli

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/dandanchat/dandan/api"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func newSignup(env Env) *cobra.Command {
	var req api.SignUpRequest
	var pwStdin bool
	cmd := &cobra.Command{
		Use:   "signup HANDLE",
		Short: "Create an account and sign this device in",
		Long: `Create an account and sign this device in. The password is read from the
terminal without echo, or as one line from standard input when it is not a
terminal (or with --password-stdin). The session is saved in
$DANDAN_HOME/session.json (default ~/.config/dandan/session.json).`,
		Args: cobra.ExactArgs(1),
	}
	f := addClientFlags(env, cmd, true)
	cmd.Flags().StringVar(&req.DisplayName, "display-name", "", "the name shown to others")
	cmd.Flags().StringVar(&req.Phone, "phone", "", "phone number in E.164 form, e.g. +821012345678")
	cmd.Flags().StringVar(&req.DeviceName, "device", defaultDeviceName(), "a name for this device")
	cmd.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from standard input even if it is a terminal")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cn, err := f.connect(false)
		if err != nil {
			return err
		}
		req.Handle = args[0]
		if req.Password, err = readPassword(env, pwStdin, true); err != nil {
			return err
		}
		s, err := cn.SignUp(cmd.Context(), req)
		if err != nil {
			return err
		}
		return cn.saveAndPrint(s, "signed up")
	}
	return cmd
}

func newLogin(env Env) *cobra.Command {
	var req api.SignInRequest
	var pwStdin bool
	cmd := &cobra.Command{
		Use:   "login HANDLE",
		Short: "Sign this device in",
		Long: `Sign this device in. The password is read like signup's; the session is
saved in the session file, replacing any previous one.`,
		Args: cobra.ExactArgs(1),
	}
	f := addClientFlags(env, cmd, true)
	cmd.Flags().StringVar(&req.DeviceName, "device", defaultDeviceName(), "a name for this device")
	cmd.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from standard input even if it is a terminal")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cn, err := f.connect(false)
		if err != nil {
			return err
		}
		req.Handle = args[0]
		if req.Password, err = readPassword(env, pwStdin, false); err != nil {
			return err
		}
		s, err := cn.SignIn(cmd.Context(), req)
		if err != nil {
			return err
		}
		return cn.saveAndPrint(s, "signed in")
	}
	return cmd
}

func (cn *conn) saveAndPrint(s *api.Session, what string) error {
	// Remember every site's address, not just the one given, so that later
	// commands fail over to the others.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	servers, _ := cn.DiscoverServers(ctx)
	p, err := saveSession(cn.env, s, servers)
	if err != nil {
		return fmt.Errorf("%s, but the session could not be saved: %w", what, err)
	}
	return cn.print(s, func(w io.Writer) {
		fmt.Fprintf(w, "%s as %s (%s); this device is %s, session saved in %s\n", what, s.User.Handle, s.User.ID, s.Device.ID, p)
	})
}

// readPassword reads the password from the terminal without echo, or one
// line from stdin. With confirm (sign-up on a terminal) it is asked twice.
func readPassword(env Env, forceStdin, confirm bool) (string, error) {
	if fd, ok := terminalFD(env.Stdin); ok && !forceStdin {
		ask := func(prompt string) (string, error) {
			fmt.Fprint(env.Stderr, prompt)
			b, err := term.ReadPassword(fd)
			fmt.Fprintln(env.Stderr)
			return string(b), err
		}
		pw, err := ask("Password: ")
		if err != nil {
			return "", err
		}
		if confirm {
			again, err := ask("Password again: ")
			if err != nil {
				return "", err
			}
			if again != pw {
				return "", api.Errorf(api.CodeInvalid, "the passwords differ")
			}
		}
		return pw, nil
	}
	if env.Stdin == nil {
		return "", api.Errorf(api.CodeInvalid, "no password: standard input is closed")
	}
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	line = strings.TrimRight(line, "\r\n")
	if line == "" && err != nil {
		return "", api.Errorf(api.CodeInvalid, "no password on standard input")
	}
	return line, nil
}

// defaultDeviceName names a device after its host: "cli@laptop".
func defaultDeviceName() string {
	h, _ := os.Hostname()
	name := "cli@" + h
	if h == "" {
		name = "cli"
	}
	for len(name) > api.MaxDeviceNameBytes {
		_, n := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-n]
	}
	return name
}

func newLogout(env Env) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "Sign this device (or, with --all, every device) out",
		Args:  cobra.NoArgs,
	}
	f := addClientFlags(env, cmd, true)
	cmd.Flags().BoolVar(&all, "all", false, "sign every device of the account out")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cn, err := f.connect(true)
		if err != nil {
			return err
		}
		if all {
			err = cn.SignOutAll(cmd.Context())
		} else {
			err = cn.SignOut(cmd.Context())
		}
		expired := api.IsCode(err, api.CodeUnauthorized) // the token was dead already
		if err != nil && !expired {
			return err
		}
		if cn.fromSession {
			if err := removeSession(env); err != nil {
				return err
			}
		}
		return cn.print(ok{true}, func(w io.Writer) {
			switch {
			case expired:
				fmt.Fprintln(w, "signed out (the session had already ended)")
			case all:
				fmt.Fprintln(w, "signed out of every device")
			default:
				fmt.Fprintln(w, "signed out")
			}
		})
	}
	return cmd
}

func newWhoami(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show the signed-in user",
		Args:  cobra.NoArgs,
	}
	f := addClientFlags(env, cmd, true)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cn, err := f.connect(true)
		if err != nil {
			return err
		}
		me, err := cn.Me(cmd.Context())
		if err != nil {
			return err
		}
		return cn.print(me, func(w io.Writer) {
			fmt.Fprintf(w, "%s (%s)", me.Handle, me.ID)
			if me.DisplayName != "" {
				fmt.Fprintf(w, " %q", me.DisplayName)
			}
			if me.Phone != "" {
				fmt.Fprintf(w, " %s", me.Phone)
			}
			fmt.Fprintf(w, " on %s\n", strings.Join(cn.Servers(), ","))
		})
	}
	return cmd
}

func newDevices(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List the signed-in devices of the account",
		Args:  cobra.NoArgs,
	}
	f := addClientFlags(env, cmd, true)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cn, err := f.connect(true)
		if err != nil {
			return err
		}
		ds, err := cn.Devices(cmd.Context())
		if err != nil {
			return err
		}
		slices.SortStableFunc(ds, func(a, b api.Device) int { return cmp.Compare(a.Created, b.Created) })
		return cn.print(ds, func(w io.Writer) {
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tSIGNED IN\tLAST SEEN\t")
			for _, d := range ds {
				cur := ""
				if d.Current {
					cur = "(this device)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.ID, d.Name, stamp(d.Created), stamp(d.LastSeen), cur)
			}
			tw.Flush()
		})
	}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Sign one device of the account out",
		Args:  cobra.ExactArgs(1),
	}
	rf := addClientFlags(env, revoke, true)
	revoke.RunE = func(cmd *cobra.Command, args []string) error {
		cn, err := rf.connect(true)
		if err != nil {
			return err
		}
		if err := cn.RevokeDevice(cmd.Context(), args[0]); err != nil {
			return err
		}
		if cn.fromSession && cn.sess.DeviceID == args[0] {
			if err := removeSession(env); err != nil {
				return err
			}
		}
		return cn.print(ok{true}, func(w io.Writer) { fmt.Fprintf(w, "revoked %s\n", args[0]) })
	}
	cmd.AddCommand(revoke)
	return cmd
}

// stamp formats unix milliseconds for a listing.
func stamp(ms int64) string {
	if ms == 0 {
		return "-"
	}
	return time.UnixMilli(ms).Local().Format("2006-01-02 15:04")
}
