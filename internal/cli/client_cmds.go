package cli

import "github.com/spf13/cobra"

// clientCommands are the commands that talk to a server as a user: account
// and session (client_account.go), rooms (client_rooms.go), messages
// (client_messages.go) and the interactive chat (client_chat.go).
func clientCommands(env Env) []*cobra.Command {
	return []*cobra.Command{
		newSignup(env), newLogin(env), newLogout(env), newWhoami(env), newDevices(env),
		newRooms(env), newDM(env), newGroup(env), newMembers(env),
		newSend(env), newEdit(env), newDelete(env), newHistory(env), newRead(env),
		newChat(env),
	}
}
