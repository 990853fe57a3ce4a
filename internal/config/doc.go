// Package config defines dandan's configuration: one Config struct, filled
// from command-line flags, environment variables (DANDAN_*), a TOML file and
// defaults, in that order of precedence.
//
// Every option has the same name in all three places: --max-room-members on
// the command line, DANDAN_MAX_ROOM_MEMBERS in the environment and
// max_room_members in the file. The package holds no global state: the caller
// passes the flag set and the environment.
//
// Example:
//
//	fs := pflag.NewFlagSet("dandan", pflag.ContinueOnError)
//	config.Register(fs)
//	if err := fs.Parse(os.Args[1:]); err != nil {
//		return err
//	}
//	cfg, err := config.Load(fs, os.Getenv) // validated
//	if err != nil {
//		return err // names each offending option as the user wrote it
//	}
//	fmt.Print(cfg.Describe())
package config
