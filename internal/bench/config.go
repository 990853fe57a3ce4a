package bench

import (
	"errors"
	"fmt"
	"time"
)

// Scenarios.
const (
	Scenario1to1   = "1to1"   // 200 users in 100 direct rooms, both members send
	ScenarioGroup  = "group"  // 10 groups of 50 members, 5 senders each
	ScenarioCustom = "custom" // --rooms, --room-size, --senders as given
)

// Config describes one load run. Zero values take the defaults (see
// Resolve); Users, Rooms, RoomSize and Senders default to the scenario's.
type Config struct {
	Targets  []string // base URLs of the nodes; empty: start a node in-process
	Scenario string   // 1to1 (default), group or custom

	Users    int // users signed up; default Rooms*RoomSize
	Rooms    int
	RoomSize int // members per room; 2 makes direct rooms
	Senders  int // senders per room (the first members of each room)

	Inflight int     // closed loop: sends kept outstanding per sender; default 4
	Rate     float64 // open loop: messages/s over all senders, evenly paced; 0 = closed loop

	Duration time.Duration // measured; default 30s
	Warmup   time.Duration // before the measurement, excluded; default 3s; negative = none
	TextSize int           // bytes per message text; default 100

	Sync             string        // "default" or "always": the own node and the baseline
	BaselineDuration time.Duration // JetStream baseline; default 5s; negative = skip
	DrainTimeout     time.Duration // wait for in-flight messages after the run; default 10s
}

// Defaults.
const (
	DefaultInflight         = 4
	DefaultDuration         = 30 * time.Second
	DefaultWarmup           = 3 * time.Second
	DefaultTextSize         = 100
	DefaultBaselineDuration = 5 * time.Second
	DefaultDrainTimeout     = 10 * time.Second
)

// Resolve fills in the scenario and the defaults and validates the result.
func (c Config) Resolve() (Config, error) {
	if c.Scenario == "" {
		c.Scenario = Scenario1to1
	}
	var rooms, size, senders int
	switch c.Scenario {
	case Scenario1to1:
		rooms, size, senders = 100, 2, 2
	case ScenarioGroup:
		rooms, size, senders = 10, 50, 5
	case ScenarioCustom:
		rooms, size, senders = 1, 2, 1
	default:
		return c, fmt.Errorf("bench: unknown scenario %q (1to1, group or custom)", c.Scenario)
	}
	setDefault(&c.Rooms, rooms)
	setDefault(&c.RoomSize, size)
	setDefault(&c.Senders, senders)
	setDefault(&c.Users, c.Rooms*c.RoomSize)
	setDefault(&c.Inflight, DefaultInflight)
	setDefault(&c.TextSize, DefaultTextSize)
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	switch {
	case c.Warmup == 0:
		c.Warmup = DefaultWarmup
	case c.Warmup < 0:
		c.Warmup = 0
	}
	switch {
	case c.BaselineDuration == 0:
		c.BaselineDuration = DefaultBaselineDuration
	case c.BaselineDuration < 0:
		c.BaselineDuration = 0
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.Sync == "" {
		c.Sync = "default"
	}
	return c, c.validate()
}

func setDefault(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("bench: "+format, args...)) }
	switch {
	case c.Rooms < 1:
		bad("--rooms must be at least 1")
	case c.RoomSize < 2:
		bad("--room-size must be at least 2")
	case c.Users < c.RoomSize:
		bad("--users (%d) must be at least --room-size (%d)", c.Users, c.RoomSize)
	case c.Senders < 1 || c.Senders > c.RoomSize:
		bad("--senders must be between 1 and --room-size (%d)", c.RoomSize)
	}
	if c.Inflight < 1 {
		bad("--inflight must be at least 1")
	}
	if !(c.Rate >= 0) {
		bad("--rate must be 0 (closed loop) or more")
	}
	if c.Duration <= 0 {
		bad("--duration must be positive")
	}
	if c.TextSize < 1 || c.TextSize > 16<<10 {
		bad("--text-size must be between 1 and 16384")
	}
	if c.Sync != "default" && c.Sync != "always" {
		bad(`--sync must be "default" or "always", not %q`, c.Sync)
	}
	return errors.Join(errs...)
}

// member returns the user index of member j of room r: users are dealt to
// rooms in turn, so rooms are disjoint when Users = Rooms*RoomSize.
func (c Config) member(r, j int) int { return (r*c.RoomSize + j) % c.Users }

// loop describes the sending discipline for display.
func (c Config) loop() string {
	if c.Rate > 0 {
		return fmt.Sprintf("open loop at %g msg/s", c.Rate)
	}
	return fmt.Sprintf("closed loop, %d in flight per sender", c.Inflight)
}
