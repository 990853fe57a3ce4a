package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/chat"
	"github.com/spf13/cobra"
)

// roomArgHelp explains ROOM arguments.
const roomArgHelp = `ROOM is a room id, a group's name, or @handle for the direct room with that
user (created the first time).`

// resolveRoom finds the room meant by a ROOM argument.
func (cn *conn) resolveRoom(ctx context.Context, ref string) (*api.Room, error) {
	return chat.ResolveRoom(ctx, cn.Client, nil, ref)
}

// describeRoom is a one-line summary of a room.
func describeRoom(r *api.Room) string {
	return fmt.Sprintf("%s %s %s, %s, last seq %d, %d unread", r.ID, r.Kind, chat.RoomLabel(r),
		plural(r.Members, "member", "members"), r.LastSeq, r.Unread)
}

func printRoom(w io.Writer, r *api.Room) { fmt.Fprintln(w, describeRoom(r)) }

func newRooms(env Env) *cobra.Command {
	cmd := &cobra.Command{Use: "rooms", Short: "List your rooms", Args: cobra.NoArgs}
	f := addClientFlags(env, cmd, true)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cn, err := f.connect(true)
		if err != nil {
			return err
		}
		rs, err := cn.Rooms(cmd.Context())
		if err != nil {
			return err
		}
		return cn.print(rs, func(w io.Writer) {
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKIND\tNAME\tMEMBERS\tLAST\tUNREAD")
			for i := range rs {
				r := &rs[i]
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\n", r.ID, r.Kind, chat.RoomLabel(r), r.Members, r.LastSeq, r.Unread)
			}
			tw.Flush()
		})
	}
	return cmd
}

func newDM(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dm HANDLE",
		Short: "Show the direct room with a user, creating it the first time",
		Args:  cobra.ExactArgs(1),
	}
	f := addClientFlags(env, cmd, true)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cn, err := f.connect(true)
		if err != nil {
			return err
		}
		r, err := cn.CreateDirect(cmd.Context(), strings.TrimPrefix(args[0], "@"))
		if err != nil {
			return err
		}
		return cn.print(r, func(w io.Writer) { printRoom(w, r) })
	}
	return cmd
}

func newGroup(env Env) *cobra.Command {
	cmd := &cobra.Command{Use: "group", Short: "Create and manage group rooms", Long: "Create and manage group rooms.\n\n" + roomArgHelp}
	cmd.AddCommand(newGroupCreate(env), newGroupInvite(env), newGroupRemove(env), newGroupLeave(env), newGroupRename(env))
	return cmd
}

func newGroupCreate(env Env) *cobra.Command {
	var members []string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a group with you as admin",
		Args:  cobra.ExactArgs(1),
	}
	f := addClientFlags(env, cmd, true)
	cmd.Flags().StringSliceVar(&members, "members", nil, "handles (or ids) of the first members, comma-separated")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cn, err := f.connect(true)
		if err != nil {
			return err
		}
		for i, m := range members {
			members[i] = strings.TrimPrefix(strings.TrimSpace(m), "@")
		}
		r, err := cn.CreateGroup(cmd.Context(), args[0], members)
		if err != nil {
			return err
		}
		return cn.print(r, func(w io.Writer) { printRoom(w, r) })
	}
	return cmd
}

func newGroupInvite(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "invite ROOM USER...",
		Short: "Add users (handles or ids) to a group",
		Args:  cobra.MinimumNArgs(2),
	}
	f := addClientFlags(env, cmd, true)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cn, err := f.connect(true)
		if err != nil {
			return err
		}
		r, err := cn.resolveRoom(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		users := make([]string, len(args)-1)
		for i, u := range args[1:] {
			users[i] = strings.TrimPrefix(u, "@")
		}
		ms, err := cn.Invite(cmd.Context(), r.ID, users)
		if err != nil {
			return err
		}
		return cn.print(ms, func(w io.Writer) {
			hs := make([]string, len(ms))
			for i, m := range ms {
				hs[i] = m.Handle
			}
			if len(hs) == 0 {
				fmt.Fprintf(w, "nobody added to %s: they were members already\n", chat.RoomLabel(r))
				return
			}
			fmt.Fprintf(w, "added %s to %s\n", strings.Join(hs, ", "), chat.RoomLabel(r))
		})
	}
	return cmd
}

func newGroupRemove(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remove ROOM USER",
		Short: "Remove a member from a group (admins only)",
		Args:  cobra.ExactArgs(2),
	}
	f := addClientFlags(env, cmd, true)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cn, err := f.connect(true)
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		r, err := cn.resolveRoom(ctx, args[0])
		if err != nil {
			return err
		}
		u, err := cn.memberID(ctx, r.ID, strings.TrimPrefix(args[1], "@"))
		if err != nil {
			return err
		}
		if err := cn.RemoveMember(ctx, r.ID, u.ID); err != nil {
			return err
		}
		return cn.print(ok{true}, func(w io.Writer) { fmt.Fprintf(w, "removed %s from %s\n", u.Handle, chat.RoomLabel(r)) })
	}
	return cmd
}

// memberID finds a user by handle or id, among the room's members first.
func (cn *conn) memberID(ctx context.Context, room, ref string) (*api.User, error) {
	ms, err := cn.Members(ctx, room)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.ID == ref || strings.EqualFold(m.Handle, ref) {
			return &m.User, nil
		}
	}
	return cn.User(ctx, ref)
}

func newGroupLeave(env Env) *cobra.Command {
	cmd := &cobra.Command{Use: "leave ROOM", Short: "Leave a group", Args: cobra.ExactArgs(1)}
	f := addClientFlags(env, cmd, true)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cn, err := f.connect(true)
		if err != nil {
			return err
		}
		r, err := cn.resolveRoom(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if err := cn.Leave(cmd.Context(), r.ID); err != nil {
			return err
		}
		return cn.print(ok{true}, func(w io.Writer) { fmt.Fprintf(w, "left %s\n", chat.RoomLabel(r)) })
	}
	return cmd
}

func newGroupRename(env Env) *cobra.Command {
	cmd := &cobra.Command{Use: "rename ROOM NAME...", Short: "Rename a group", Args: cobra.MinimumNArgs(2)}
	f := addClientFlags(env, cmd, true)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cn, err := f.connect(true)
		if err != nil {
			return err
		}
		r, err := cn.resolveRoom(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		r, err = cn.RenameRoom(cmd.Context(), r.ID, strings.Join(args[1:], " "))
		if err != nil {
			return err
		}
		return cn.print(r, func(w io.Writer) { printRoom(w, r) })
	}
	return cmd
}

func newMembers(env Env) *cobra.Command {
	cmd := &cobra.Command{Use: "members ROOM", Short: "List the members of a room", Long: "List the members of a room.\n\n" + roomArgHelp, Args: cobra.ExactArgs(1)}
	f := addClientFlags(env, cmd, true)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cn, err := f.connect(true)
		if err != nil {
			return err
		}
		r, err := cn.resolveRoom(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		ms, err := cn.Members(cmd.Context(), r.ID)
		if err != nil {
			return err
		}
		return cn.print(ms, func(w io.Writer) {
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "HANDLE\tROLE\tJOINED\tID\tNAME")
			for _, m := range ms {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Handle, m.Role, stamp(m.Joined), m.ID, m.DisplayName)
			}
			tw.Flush()
		})
	}
	return cmd
}
