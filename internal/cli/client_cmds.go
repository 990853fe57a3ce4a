package cli

import "github.com/spf13/cobra"

func clientCommands(env Env) []*cobra.Command { return nil }
