// Package mw holds kitshop's generic go-kit endpoint middleware: logging,
// tracing, metrics, rate limiting and circuit breaking. None of it knows
// about any domain; it sees requests only as opaque values (and never logs
// them) and errors only through kit/errs kinds and reasons.
//
// Services do not assemble these by hand: Chain.Wrap builds the standard
// server-side chain and Chain.WrapClient the one for outgoing calls.
package mw
