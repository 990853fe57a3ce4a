package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/client"
	"github.com/dandanchat/dandan/internal/chat"
	"github.com/spf13/cobra"
)

// messageText joins the TEXT arguments; a single "-" reads standard input.
func messageText(env Env, args []string) (string, error) {
	if len(args) == 1 && args[0] == "-" {
		if env.Stdin == nil {
			return "", nil
		}
		b, err := io.ReadAll(io.LimitReader(env.Stdin, api.MaxTextBytes+1))
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return strings.Join(args, " "), nil
}

func parseSeqArg(s string) (uint64, error) {
	seq, err := strconv.ParseUint(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || seq == 0 {
		return 0, usageError("%q is not a message seq (a number from 1)", s)
	}
	return seq, nil
}

func printAck(w io.Writer, a *api.Ack) { fmt.Fprintf(w, "seq %d\n", a.Seq) }

func newSend(env Env) *cobra.Command {
	var id string
	var replyTo uint64
	cmd := &cobra.Command{
		Use:   "send ROOM TEXT...",
		Short: "Send a message (TEXT - reads it from standard input)",
		Long: `Send a message and print its seq. With --id the send is idempotent: sending
the same id again stores nothing and prints the first seq.

` + roomArgHelp,
		Args: cobra.MinimumNArgs(1),
	}
	f := addClientFlags(env, cmd, true)
	cmd.Flags().StringVar(&id, "id", "", "client message id (1-64 of A-Z a-z 0-9 _ -) making the send idempotent")
	cmd.Flags().Uint64Var(&replyTo, "reply-to", 0, "seq of the message this one answers")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cn, err := f.connect(true)
		if err != nil {
			return err
		}
		text, err := messageText(env, args[1:])
		if err != nil {
			return err
		}
		if e := api.CheckText(text); e != nil {
			return e
		}
		r, err := cn.resolveRoom(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		a, err := cn.Send(cmd.Context(), r.ID, text, client.WithID(id), client.WithReplyTo(replyTo))
		if err != nil {
			return err
		}
		return cn.print(a, func(w io.Writer) { printAck(w, a) })
	}
	return cmd
}

func newEdit(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "edit ROOM SEQ TEXT...",
		Short: "Change the text of one of your messages",
		Args:  cobra.MinimumNArgs(2),
	}
	f := addClientFlags(env, cmd, true)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cn, err := f.connect(true)
		if err != nil {
			return err
		}
		seq, err := parseSeqArg(args[1])
		if err != nil {
			return err
		}
		text, err := messageText(env, args[2:])
		if err != nil {
			return err
		}
		if e := api.CheckText(text); e != nil {
			return e
		}
		r, err := cn.resolveRoom(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		a, err := cn.Edit(cmd.Context(), r.ID, seq, text)
		if err != nil {
			return err
		}
		return cn.print(a, func(w io.Writer) { printAck(w, a) })
	}
	return cmd
}

func newDelete(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete ROOM SEQ",
		Short: "Delete a message (yours, or any as a group admin)",
		Args:  cobra.ExactArgs(2),
	}
	f := addClientFlags(env, cmd, true)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cn, err := f.connect(true)
		if err != nil {
			return err
		}
		seq, err := parseSeqArg(args[1])
		if err != nil {
			return err
		}
		r, err := cn.resolveRoom(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		a, err := cn.Delete(cmd.Context(), r.ID, seq)
		if err != nil {
			return err
		}
		return cn.print(a, func(w io.Writer) { printAck(w, a) })
	}
	return cmd
}

func newHistory(env Env) *cobra.Command {
	var q client.HistoryQuery
	cmd := &cobra.Command{
		Use:   "history ROOM",
		Short: "Show a room's messages, oldest first",
		Long: `Show a room's latest messages (or those before/after a seq), oldest first, as
"#SEQ TIME HANDLE: TEXT". Edits and deletions of messages on the page are
folded into them.

` + roomArgHelp,
		Args: cobra.ExactArgs(1),
	}
	f := addClientFlags(env, cmd, true)
	cmd.Flags().IntVar(&q.Limit, "limit", 20, fmt.Sprintf("events to show, at most %d", api.MaxPageLimit))
	cmd.Flags().Uint64Var(&q.Before, "before", 0, "show the events before this seq")
	cmd.Flags().Uint64Var(&q.After, "after", 0, "show the events after this seq")
	cmd.MarkFlagsMutuallyExclusive("before", "after")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cn, err := f.connect(true)
		if err != nil {
			return err
		}
		if q.Limit <= 0 || q.Limit > api.MaxPageLimit {
			return usageError("--limit must be between 1 and %d", api.MaxPageLimit)
		}
		ctx := cmd.Context()
		r, err := cn.resolveRoom(ctx, args[0])
		if err != nil {
			return err
		}
		p, err := cn.History(ctx, r.ID, q)
		if err != nil {
			return err
		}
		if cn.json {
			return writeJSON(env.Stdout, p)
		}
		names := chat.NewNames(cn.Client)
		if r.Peer != nil {
			names.Add(*r.Peer)
		}
		names.Resolve(ctx, r.ID, p.Events...)
		rend := &chat.Renderer{Names: names}
		if cn.sess != nil && cn.fromSession {
			rend.Me = cn.sess.UserID
		}
		for _, l := range rend.Page(p.Events, true) {
			fmt.Fprintln(env.Stdout, l)
		}
		return nil
	}
	return cmd
}

func newRead(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "read ROOM [SEQ]",
		Short: "Mark a room read up to SEQ (default: its last message)",
		Args:  cobra.RangeArgs(1, 2),
	}
	f := addClientFlags(env, cmd, true)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cn, err := f.connect(true)
		if err != nil {
			return err
		}
		var seq uint64
		if len(args) == 2 {
			if seq, err = parseSeqArg(args[1]); err != nil {
				return err
			}
		}
		r, err := cn.resolveRoom(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if seq == 0 {
			seq = r.LastSeq
		}
		if seq == 0 {
			return cn.print(api.Receipt{Room: r.ID}, func(w io.Writer) { fmt.Fprintln(w, "nothing to read") })
		}
		rc, err := cn.MarkReceipt(cmd.Context(), r.ID, api.ReceiptRequest{Delivered: seq, Read: seq})
		if err != nil {
			return err
		}
		return cn.print(rc, func(w io.Writer) { fmt.Fprintf(w, "read up to seq %d in %s\n", rc.Read, chat.RoomLabel(r)) })
	}
	return cmd
}
