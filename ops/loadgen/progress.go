package main

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress is the live line: answers so far against those the schedule
// will send, the rate, and the failures.
type progress struct {
	bar    *progressbar.ProgressBar
	w      io.Writer
	failed int64
}

func newProgress(w io.Writer, expected uint64, quiet bool) *progress {
	if quiet {
		return &progress{}
	}
	max := int64(expected)
	if max <= 0 {
		max = -1 // unknown: a spinner
	}
	return &progress{w: w, bar: progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("failed 0"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("req"),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetPredictTime(false),
	)}
}

// start draws the empty bar and starts its clock, so the rate shown is
// over the run, not from the first answer.
func (p *progress) start() {
	if p.bar != nil {
		_ = p.bar.RenderBlank()
	}
}

// done counts one answer.
func (p *progress) done(failed bool) {
	if p.bar == nil {
		return
	}
	if failed {
		p.failed++
		p.bar.Describe(fmt.Sprintf("failed %d", p.failed))
	}
	_ = p.bar.Add(1)
}

// finish draws the last state and moves past the line. A run stopped
// early keeps its partial bar rather than being drawn as complete.
func (p *progress) finish() {
	if p.bar == nil {
		return
	}
	if max := p.bar.GetMax64(); max > 0 && p.bar.State().CurrentNum >= max {
		_ = p.bar.Finish()
	} else {
		_ = p.bar.Exit()
	}
	fmt.Fprintln(p.w)
}
