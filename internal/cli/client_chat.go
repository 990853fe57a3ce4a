package cli

import (
	"context"
	"errors"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/chat"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func newChat(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "chat [ROOM]",
		Short: "Chat interactively (type /help inside)",
		Long: `Chat interactively: incoming messages of every room are shown as they arrive,
and what you type is sent to the current room. Type /help for the commands,
/quit or Ctrl-D to leave. When standard input is not a terminal, lines are
read plainly, so the chat can be driven by a script.

` + roomArgHelp,
		Args: cobra.MaximumNArgs(1),
	}
	f := addClientFlags(env, cmd, false)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cn, err := f.connect(true)
		if err != nil {
			return err
		}
		opts := chat.Options{Client: cn.Client, In: env.Stdin, Out: env.Stdout}
		if len(args) == 1 {
			opts.Room = args[0]
		}
		if cn.fromSession && cn.sess.UserID != "" {
			opts.Me = &api.User{ID: cn.sess.UserID, Handle: cn.sess.Handle}
		}
		inFD, inTTY := terminalFD(env.Stdin)
		outFD, outTTY := terminalFD(env.Stdout)
		if inTTY && outTTY {
			st, err := term.MakeRaw(inFD)
			if err != nil {
				return err
			}
			defer func() { _ = term.Restore(inFD, st) }()
			opts.Terminal = true
			opts.Size = func() (int, int, error) { return term.GetSize(outFD) }
		}
		err = chat.Run(cmd.Context(), opts)
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	return cmd
}
