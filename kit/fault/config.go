// Package fault makes a process fail or slow a share of its API calls on
// purpose, so that a bad release (a canary that errors, a dependency that
// is slow) can be simulated honestly with the real binaries: the failures
// travel the same wire, error model and retry paths as real ones.
//
// It is configured from the environment only (KITSHOP_FAULT_ERROR_RATE,
// KITSHOP_FAULT_LATENCY), is off unless one of them is set, and is refused
// outright when KITSHOP_ENV=production: a leftover test setting must stop
// a production process from starting, never quietly fail customers' calls.
package fault

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// Environment variables read by FromEnv. Other tools (ops/chaos) set them
// by these exact names.
const (
	EnvErrorRate = "KITSHOP_FAULT_ERROR_RATE"
	EnvLatency   = "KITSHOP_FAULT_LATENCY"
	// EnvMode names the deployment mode; "production" refuses faults.
	EnvMode = "KITSHOP_ENV"
)

// ModeProduction is the KITSHOP_ENV value of a production deployment.
const ModeProduction = "production"

// MaxLatency bounds KITSHOP_FAULT_LATENCY: a typo such as "2h" for "2s"
// would otherwise hold every call until its deadline and look like an
// outage of something else.
const MaxLatency = 5 * time.Minute

// Config is what a process injects. The zero value injects nothing.
type Config struct {
	// ErrorRate is the share (0..1) of calls failed before the handler
	// runs, as Unavailable/FAULT_INJECTED.
	ErrorRate float64
	// Latency is added before the handler of every call, cut short by
	// the call's own deadline or cancellation.
	Latency time.Duration
}

// Enabled reports whether c injects anything.
func (c Config) Enabled() bool { return c.ErrorRate > 0 || c.Latency > 0 }

func (c Config) String() string {
	return fmt.Sprintf("error_rate=%g latency=%s", c.ErrorRate, c.Latency)
}

// ErrProduction is returned by FromEnv when faults are asked for in a
// production process.
var ErrProduction = errors.New("fault: " + EnvErrorRate + "/" + EnvLatency +
	" are test settings and are refused when " + EnvMode + "=" + ModeProduction + "; unset them")

// FromEnv reads the fault settings from the environment (getenv is
// os.Getenv when nil). Malformed values and any fault in production mode
// are errors: the process must not start rather than run with a setting
// it misread.
func FromEnv(getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	var c Config
	if v := strings.TrimSpace(getenv(EnvErrorRate)); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(r) || r < 0 || r > 1 {
			return Config{}, fmt.Errorf("fault: %s=%q: want a share between 0 and 1, e.g. 0.2", EnvErrorRate, v)
		}
		c.ErrorRate = r
	}
	if v := strings.TrimSpace(getenv(EnvLatency)); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > MaxLatency {
			return Config{}, fmt.Errorf("fault: %s=%q: want a duration between 0 and %s, e.g. 2s", EnvLatency, v, MaxLatency)
		}
		c.Latency = d
	}
	if c.Enabled() && strings.EqualFold(strings.TrimSpace(getenv(EnvMode)), ModeProduction) {
		return Config{}, ErrProduction
	}
	return c, nil
}
