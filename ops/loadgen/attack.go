package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// maxResultBody is how much of each answer vegeta keeps: enough for an
// order's id and a problem's code, not a whole product page.
const maxResultBody = 64 << 10

// setupRequestTimeout bounds each setup request; dialTimeout each new
// connection and TLS handshake.
const (
	setupRequestTimeout = 10 * time.Second
	dialTimeout         = 5 * time.Second
)

// runHTTP prepares the catalog and the user pool, then sends the mix at
// the schedule's rate through vegeta and reports.
func runHTTP(ctx context.Context, c *config, stderr io.Writer) (Summary, error) {
	tc, err := c.tlsConfig()
	if err != nil {
		return Summary{}, err
	}
	w := &world{base: c.target, apiKey: c.apiKey, runID: fmt.Sprintf("%08x", rand.Uint32()), mix: c.mix}
	// One transport for setup and attack, ours so that its connections
	// are closed when the run ends.
	transport := &http.Transport{
		TLSClientConfig:     tc,
		ForceAttemptHTTP2:   true,
		DialContext:         (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: dialTimeout,
		MaxIdleConnsPerHost: 10000,
	}
	defer transport.CloseIdleConnections()
	setup := &setupClient{
		http: &http.Client{Timeout: setupRequestTimeout, Transport: transport},
		base: c.target, apiKey: c.apiKey, log: stderr,
	}
	sctx, cancel := context.WithTimeout(ctx, c.setupTime)
	defer cancel()
	if c.mix.steps[0].route != routeList || len(c.mix.steps) > 1 {
		if err := setup.loadCatalog(sctx, w); err != nil {
			return Summary{}, err
		}
	}
	if c.mix.needsUsers() {
		fmt.Fprintf(stderr, "setup: registering %d users\n", c.users)
		if err := setup.registerUsers(sctx, w, c.users); err != nil {
			return Summary{}, err
		}
	}

	attacker := vegeta.NewAttacker(
		vegeta.Client(&http.Client{
			Transport: transport,
			Timeout:   c.timeout,
			// A redirect is an answer to report, not to follow.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}),
		vegeta.MaxBody(maxResultBody),
	)
	rec := newRecorder()
	bar := newProgress(stderr, c.sched.expected(c.duration), c.quiet)
	stopped := ""
	attackDone := make(chan struct{})
	defer close(attackDone)
	go func() {
		select {
		case <-ctx.Done():
			attacker.Stop()
		case <-attackDone:
		}
	}()

	bar.start()
	start := time.Now()
	for res := range attacker.Attack(w.targeter(), c.sched.pacer(0), c.duration, "") {
		o := toOutcome(res, start, c.sched)
		rec.record(o)
		bar.done(o.failed)
		if o.route == routePlaceOrder && !o.failed {
			w.rememberFrom(res.Body)
		}
	}
	bar.finish()
	if ctx.Err() != nil {
		stopped = "interrupted"
	}
	s := rec.summary()
	s.Target, s.Scenario, s.Schedule, s.Stopped = c.target, scenarioName(c), c.sched.String(), stopped
	return s, nil
}

func scenarioName(c *config) string {
	if c.mixSpec != "" || c.scenario == "journey" {
		return "mix " + c.mix.String()
	}
	return c.scenario
}

// toOutcome turns a vegeta result into the report's terms. Vegeta starts
// the clock when a worker takes the request; the schedule says when it
// was due. The earlier of the two counts, so time a request spent waiting
// for a free worker or connection is latency, as a user would see it.
func toOutcome(res *vegeta.Result, start time.Time, s schedule) outcome {
	o := outcome{route: classify(res.Method, res.URL), status: int(res.Code), start: res.Timestamp}
	if due := start.Add(s.intended(res.Seq)); due.Before(o.start) {
		o.start = due
	}
	o.latency = res.End().Sub(o.start)
	switch {
	case res.Code == 0:
		o.failed, o.code = true, transportCode(res.Error)
	case res.Code >= 400:
		o.failed, o.code = true, problemCode(res.Body)
	}
	return o
}

// rememberFrom keeps a placed order for get-order, with its owner.
func (w *world) rememberFrom(body []byte) {
	var o struct {
		ID     string `json:"id"`
		UserID string `json:"user_id"`
	}
	if json.Unmarshal(body, &o) != nil || o.ID == "" {
		return
	}
	if i, ok := w.userIdx[o.UserID]; ok {
		w.remember(placedOrder{id: o.ID, user: i})
	}
}
