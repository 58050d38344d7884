package sd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/go-kit/kit/endpoint"
	gokitsd "github.com/go-kit/kit/sd"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/metadata"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/typed"
)

// Reasons of the errors a Backend adds.
const (
	// ReasonAttemptTimeout: an attempt outlived the timeout the client
	// set for it (Policy.AttemptTimeout), inside the caller's deadline.
	// It is the one DEADLINE_EXCEEDED that counts against the backend.
	ReasonAttemptTimeout = "ATTEMPT_TIMEOUT"
	// ReasonServiceUnavailable: at the edge, the backend could not be
	// called at all (its breaker is open, or no instance is registered).
	ReasonServiceUnavailable = "SERVICE_UNAVAILABLE"
)

// BackendConfig says how to reach one backend service.
type BackendConfig struct {
	// Service is the callee's registered name ("users").
	Service string
	// Caller names this process in breaker names and logs.
	Caller string
	// Addr, when set, is a fixed gRPC address used instead of discovery
	// (tests, `go run` without a registry).
	Addr string
	// Etcd is the registry the backend's instances are discovered in,
	// used when Addr is empty.
	Etcd *clientv3.Client
	// Dial opens one connection per instance; it must not block (use
	// grpcx.Dial). It carries the transport credentials (mTLS) and
	// tracing.
	Dial func(target string) (*grpc.ClientConn, error)
	// Logger receives discovery problems and breaker transitions.
	Logger log.Logger
	// Breaker configures the backend's one circuit breaker; its
	// OnStateChange, when set, is called besides the log line.
	Breaker mw.BreakerSettings
	// Budget caps retries (default: 10% extra load).
	Budget BudgetSettings
	// Edge marks the public edge (the gateway), which repeats nothing a
	// client did not ask for twice: only Read methods are retried, and
	// only when an instance was unavailable (the attempt provably did not
	// run), never after an attempt timed out; every other method is sent
	// once whatever its policy (a client retries a keyed write itself,
	// with its own key). Response headers are passed on to the context's
	// grpc.ServerTransportStream, where a kit/rest route with
	// Spec.Metadata turns the keys it names into HTTP headers
	// (Idempotent-Replayed), as the in-process pb server's are.
	Edge bool
	// Chain wraps every method with client tracing and RED metrics
	// (transport "client", method "<service>.<Method>"). Zero: neither.
	// With Chain.RED, every attempt is also recorded by the version of
	// the instance it went to (kit/metrics Attempts).
	Chain mw.Chain
	// RouteKey returns the key that keeps a client on one version during
	// a rollout (see Rollout). Nil: RouteKey(ctx), the key the gateway
	// set or the calling process sent. Whatever it returns is sent on in
	// gRPC metadata, so the callee's own calls keep the same version.
	RouteKey func(context.Context) string
}

// Backend is the caller's side of one backend service: its instances
// (from etcd or a fixed address), one gRPC connection per instance shared
// by every method, one circuit breaker and one retry budget. Build typed
// methods on it with Unary; Close it when the caller shuts down.
//
// A Backend fails fast rather than piling up: while the breaker is open
// every call fails in microseconds with Unavailable/BREAKER_OPEN, and
// without any instance with Unavailable/NO_INSTANCES.
type Backend[C any] struct {
	cfg       BackendConfig
	newClient func(grpc.ClientConnInterface) C
	inst      gokitsd.Instancer
	stopInst  func()
	conns     *Conns
	breaker   *mw.CircuitBreaker
	budget    *Budget
	// exhausted counts retries the budget refused
	// (kitshop_retry_budget_exhausted_total), nil without Chain.RED.
	exhausted prometheus.Counter
	// rollout follows the service's version split (split.go); nil with
	// a fixed address, where there is nothing to split.
	rollout *rolloutWatch
	// attempts records each attempt by the callee's version; nil
	// without Chain.RED.
	attempts *metrics.Attempts
}

// NewBackend returns the backend cfg describes; newClient is the
// generated constructor (usersv1.NewUsersServiceClient).
func NewBackend[C any](cfg BackendConfig, newClient func(grpc.ClientConnInterface) C) (*Backend[C], error) {
	if cfg.Service == "" || cfg.Dial == nil {
		return nil, errors.New("sd: a backend needs a service name and a dial function")
	}
	if cfg.Logger == nil {
		cfg.Logger = log.NewNopLogger()
	}
	cfg.Logger = log.With(cfg.Logger, "backend", cfg.Service)
	b := &Backend[C]{cfg: cfg, newClient: newClient, conns: NewConns(cfg.Dial), budget: NewBudget(cfg.Budget)}
	switch {
	case cfg.Addr != "":
		v, err := json.Marshal(Instance{ID: "fixed", Name: cfg.Service, GRPCAddr: cfg.Addr})
		if err != nil {
			return nil, err
		}
		b.inst, b.stopInst = gokitsd.FixedInstancer{string(v)}, func() {}
	case cfg.Etcd != nil:
		in, err := NewInstancer(cfg.Etcd, cfg.Service, cfg.Logger)
		if err != nil {
			return nil, err
		}
		b.inst, b.stopInst = in, in.Stop
		b.rollout = watchRollout(cfg.Etcd, cfg.Service, cfg.Logger)
	default:
		return nil, fmt.Errorf("sd: backend %s needs a fixed address or a registry", cfg.Service)
	}
	s := cfg.Breaker
	s.Failure = countsAgainstBackend
	// A skipped down instance was never called: it proves nothing either
	// way, and must not use up a half-open breaker's probe as a success.
	s.Ignore = func(err error) bool { return err == errInstanceDown || mw.CallerGaveUp(err) }
	hook := s.OnStateChange
	s.OnStateChange = func(name, from, to string) {
		lvl := level.Warn
		if to == "closed" {
			lvl = level.Info
		}
		_ = lvl(cfg.Logger).Log("msg", "circuit breaker state change", "breaker", name, "from", from, "to", to)
		if hook != nil {
			hook(name, from, to)
		}
	}
	name := cfg.Service
	if cfg.Caller != "" {
		name = cfg.Caller + "->" + cfg.Service
	}
	b.breaker = mw.NewCircuitBreaker(name, s)
	if cfg.Chain.RED != nil {
		b.exhausted = cfg.Chain.RED.RetryBudgetExhausted(cfg.Service)
		b.attempts = cfg.Chain.RED.Attempts(cfg.Service)
	}
	return b, nil
}

// Close stops following discovery and closes every connection; methods
// fail from then on.
func (b *Backend[C]) Close() error {
	err := b.conns.Close()
	b.stopInst()
	b.rollout.Stop()
	return err
}

// Unary returns the typed call of one unary method, e.g.
//
//	getUser := sd.Unary(b, "GetUser", sd.Read, usersv1.UsersServiceClient.GetUser)
//
// Each call picks the next instance round-robin within the version the
// service's rollout assigns the call's route key (see Rollout; without
// one, among all instances), skipping instances whose connection is
// known to be down, runs the attempt through the
// backend's breaker with its own timeout, and, when p allows and the
// failure says nothing about the request (the instance was unavailable or
// the attempt timed out), retries on the next instance after a jittered
// backoff, as long as the caller's deadline and the retry budget allow.
// Business errors, bad input and the caller's own deadline or
// cancellation are returned at once, never retried and never counted.
func Unary[C, Req, Resp any](b *Backend[C], method string, p Policy, call func(C, context.Context, Req, ...grpc.CallOption) (Resp, error)) func(context.Context, Req) (Resp, error) {
	if b.cfg.Edge && p != Read {
		p.Attempts = 1
	}
	p = p.withDefaults()
	factory := instanceFactory(b, true, func(ctx context.Context, client C, req Req) (any, error) {
		if !b.cfg.Edge {
			return call(client, ctx, req)
		}
		var header metadata.MD
		resp, err := call(client, ctx, req, grpc.Header(&header))
		forwardHeader(ctx, header)
		return resp, err
	})
	endpointer := newVersionedEndpointer(b.inst, factory, b.cfg.Logger)
	if !b.conns.own(endpointer.Close) {
		endpointer.Close()
	}
	e := b.cfg.Chain.WrapClient(b.cfg.Service+"."+method, b.retrying(endpointer, p))
	return func(ctx context.Context, req Req) (Resp, error) {
		resp, err := e(ctx, req)
		if err != nil {
			var zero Resp
			return zero, b.edgeError(err)
		}
		return typed.Cast[Resp](resp)
	}
}

// instanceFactory is the go-kit factory of one method: for each
// discovered instance, an endpoint over the backend's shared connection to
// it that skips the instance while it is known to be down, sends the
// caller's route key on, and makes the call with send. The instance's
// health learns from what send returns. tracked endpoints count their
// calls on the connection, so that retiring it waits for them (unary
// calls); a stream outlives its opening and is not tracked.
func instanceFactory[C, Req any](b *Backend[C], tracked bool, send func(ctx context.Context, client C, req Req) (any, error)) gokitsd.Factory {
	return func(instance string) (endpoint.Endpoint, io.Closer, error) {
		in, err := DecodeInstance(instance)
		if err != nil {
			return nil, nil, err
		}
		if in.GRPCAddr == "" {
			return nil, nil, fmt.Errorf("sd: instance %s/%s has no grpc_addr", in.Name, in.ID)
		}
		ref, err := b.conns.acquire(in.GRPCAddr)
		if err != nil {
			return nil, nil, err
		}
		conn, client := ref.sc.conn, b.newClient(ref.sc.conn)
		var health instanceHealth
		e := func(ctx context.Context, request any) (any, error) {
			if health.down(conn) && !forced(ctx) {
				return nil, errInstanceDown
			}
			if key := RouteKey(ctx); key != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, MetadataRouteKey, key)
			}
			req, err := typed.Cast[Req](request)
			if err != nil {
				return nil, err
			}
			resp, err := send(ctx, client, req)
			health.observe(errs.FromGRPC(err))
			return resp, err
		}
		if tracked {
			e = b.conns.track(ref.sc, e)
		}
		return e, ref, nil
	}
}

// edgeError is err as the edge tells a client: a call that could not be
// made because the backend is out of reach (breaker open, no instance)
// is SERVICE_UNAVAILABLE, keeping the Retry-After the breaker computed.
// How the platform failed inside (which breaker, which registry) is for
// its logs and metrics; a client needs only "unavailable, come back
// then". Inside the platform callers keep the precise reason.
func (b *Backend[C]) edgeError(err error) error {
	if !b.cfg.Edge {
		return err
	}
	e := errs.As(err)
	if e.Kind != errs.Unavailable || (e.Reason != mw.ReasonBreakerOpen && e.Reason != ReasonNoInstances) {
		return err
	}
	out := errs.Wrap(errs.Unavailable, ReasonServiceUnavailable, err, "the "+b.cfg.Service+" service is temporarily unavailable")
	if after := e.MetaString(httpx.MetaRetryAfter); after != "" {
		out = out.With(httpx.MetaRetryAfter, after)
	}
	return out
}

// forwardHeader sets a remote call's response header on ctx's server
// transport stream, the HTTP route's at the edge. Only the edge does this:
// inside a gRPC server the stream is the server's own, and a backend's
// headers must not leak into its caller's answer.
func forwardHeader(ctx context.Context, header metadata.MD) {
	if header.Len() > 0 && grpc.ServerTransportStreamFromContext(ctx) != nil {
		_ = grpc.SetHeader(ctx, header)
	}
}

// instanceHealth remembers that an instance has just failed to answer, so
// that the calls right after it (this call's retry, other callers) go to
// another instance while gRPC reconnects in the background. Without it, a
// killed instance whose connection is back to CONNECTING is tried again
// by every caller round-robin sends there, each attempt failing anew.
type instanceHealth struct{ failedAt atomic.Int64 }

// downFor is how long an instance that failed is passed over (unless
// every instance is). Its connection's state cannot say sooner: right
// after a peer dies the connection may still report READY.
const downFor = 2 * time.Second

func (h *instanceHealth) down(conn *grpc.ClientConn) bool {
	if f := h.failedAt.Load(); f != 0 && time.Since(time.Unix(0, f)) < downFor {
		return true
	}
	return conn.GetState() == connectivity.TransientFailure
}

// observe notes a failure that says the instance could not serve: an
// Unavailable it did not mark Expected (a refused connection, a shed call).
func (h *instanceHealth) observe(err error) {
	if err == nil {
		return
	}
	if e := errs.As(err); e.Kind == errs.Unavailable && !e.Expected {
		h.failedAt.Store(time.Now().UnixNano())
	}
}

// errInstanceDown: the instance's connection is in TRANSIENT_FAILURE, so
// the attempt is skipped for the next instance without touching the
// network or the breaker.
var errInstanceDown = errs.New(errs.Unavailable, ReasonNoInstances, "instance is down")

type forceKey struct{}

// forced marks an attempt that must go out even to an instance that looks
// down, because every instance does: gRPC may have reconnected since.
func forced(ctx context.Context) bool { return ctx.Value(forceKey{}) != nil }

// retrying runs a whole call, all its attempts, through the backend's
// breaker: the breaker asks "did the backend answer?", so an instance that
// died while another answered on retry does not count against the
// backend (it would trip a per-backend breaker for the whole service when
// one of its instances dies), while a backend no attempt can reach does.
func (b *Backend[C]) retrying(endpointer *versionedEndpointer, p Policy) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		return b.breaker.Do(func() (any, error) { return b.attemptCalls(ctx, endpointer, p, request) })
	}
}

// errNoEndpoints is why a call found no instance to try.
var errNoEndpoints = errors.New("no endpoints available")

func (b *Backend[C]) attemptCalls(ctx context.Context, endpointer *versionedEndpointer, p Policy, request any) (any, error) {
	b.budget.Deposit()
	sp := b.rollout.Current()
	key := b.routeKey(ctx)
	if key != "" && RouteKey(ctx) != key {
		ctx = WithRouteKey(ctx, key) // sent on with every attempt
	}
	for attempt := 1; ; attempt++ {
		t := endpointer.pick(sp, key, attempt > 1)
		if t == nil {
			return nil, errs.Wrap(errs.Unavailable, ReasonNoInstances, errNoEndpoints,
				"no instance of "+b.cfg.Service+" is available")
		}
		resp, err := b.try(ctx, t, request, p.AttemptTimeout)
		if err == errInstanceDown {
			resp, err = b.tryAnother(ctx, endpointer, sp, t, request, p.AttemptTimeout)
		}
		if err == nil {
			return resp, nil
		}
		if attempt >= p.Attempts || !b.retryable(err) {
			return nil, err
		}
		if !b.budget.Withdraw() {
			if b.exhausted != nil {
				b.exhausted.Inc()
			}
			return nil, err
		}
		if !sleep(ctx, retryBackoff(attempt)) {
			return nil, callerGaveUp(ctx)
		}
	}
}

// tryAnother makes the attempt round-robin gave to an instance that is
// down on the first instance that is not, without counting it as another
// attempt (the other callers moving the round-robin on could otherwise
// hand this call the dead instance again). When every instance looks
// down it goes to the one it was given: gRPC may have reconnected since.
//
// Instances are tried in the order the rollout prefers them: the given
// instance's version first, then the other versions with a weight.
func (b *Backend[C]) tryAnother(ctx context.Context, endpointer *versionedEndpointer, sp *split, given *target, request any, timeout time.Duration) (any, error) {
	for _, t := range endpointer.candidates(sp, given) {
		if resp, err := b.try(ctx, t, request, timeout); err != errInstanceDown {
			return resp, err
		}
	}
	return b.try(context.WithValue(ctx, forceKey{}, true), given, request, timeout)
}

// routeKey is the call's route key (BackendConfig.RouteKey).
func (b *Backend[C]) routeKey(ctx context.Context) string {
	if b.cfg.RouteKey != nil {
		return b.cfg.RouteKey(ctx)
	}
	return RouteKey(ctx)
}

// try is one attempt's call, with its own timeout. Errors leave it
// classified: the caller's own end (ctx) is marked Expected so that no
// breaker, here or upstream, counts it; an expiry of the attempt's own
// timeout becomes DeadlineExceeded/ATTEMPT_TIMEOUT, which does count.
func (b *Backend[C]) try(ctx context.Context, t *target, request any, timeout time.Duration) (resp any, err error) {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if b.attempts != nil {
		begin := time.Now()
		defer func() {
			if err != errInstanceDown { // skipped, never sent
				b.attempts.Observe(t.version, metrics.Code(err), time.Since(begin))
			}
		}()
	}
	resp, err = t.e(actx, request)
	if err == nil || err == errInstanceDown {
		return resp, err
	}
	err = errs.FromGRPC(err)
	switch {
	case ctx.Err() != nil:
		return nil, callerGaveUp(ctx)
	case errors.Is(actx.Err(), context.DeadlineExceeded),
		errs.KindOf(err) == errs.DeadlineExceeded && ownDeadline(ctx, actx):
		// The second case: the server's copy of our deadline (the
		// grpc-timeout header) expired a hair before our own timer.
		return nil, errs.Wrap(errs.DeadlineExceeded, ReasonAttemptTimeout, err,
			b.cfg.Service+" did not answer in time")
	}
	return nil, err
}

// ownDeadline reports whether the attempt's deadline was the client's own
// timeout rather than the caller's deadline.
func ownDeadline(ctx, actx context.Context) bool {
	own, _ := actx.Deadline()
	caller, ok := ctx.Deadline()
	return !ok || own.Before(caller)
}

// callerGaveUp is the caller's own cancellation or deadline: reported as
// such, marked Expected so that no breaker counts it against anybody.
func callerGaveUp(ctx context.Context) error {
	return errs.As(ctx.Err()).AsExpected()
}

// countsAgainstBackend is the breaker's notion of failure: the backend was
// unreachable or did not answer within the attempt's own timeout. Business
// errors, bad input, Internal answers (a bug one request can trigger) and
// anybody's deadline but ours prove nothing about its health.
func countsAgainstBackend(err error) bool {
	if err == nil || err == errInstanceDown {
		return false
	}
	e := errs.As(err)
	if e.Expected {
		return false
	}
	switch e.Kind {
	case errs.Unavailable:
		return e.Reason != mw.ReasonBreakerOpen
	case errs.DeadlineExceeded:
		return e.Reason == ReasonAttemptTimeout
	}
	return false
}

// retryable: a failure another instance may not have. At the edge, only
// an unavailable instance: the call never ran there.
func (b *Backend[C]) retryable(err error) bool {
	if b.cfg.Edge {
		return countsAgainstBackend(err) && errs.KindOf(err) == errs.Unavailable
	}
	return countsAgainstBackend(err)
}
