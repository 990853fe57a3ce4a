package cli

import "github.com/spf13/cobra"

func toolCommands(env Env) []*cobra.Command { return nil }
