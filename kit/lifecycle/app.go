package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/kit/health"
)

// Default bounds for the shutdown steps.
const (
	DefaultDrainTimeout      = 15 * time.Second
	DefaultDeregisterTimeout = 5 * time.Second
)

// App is one process's set of servers, registration, jobs and resources.
// Fill in what the process has; nil servers, a nil Registrar and empty
// lists are simply skipped.
type App struct {
	Name   string
	Logger log.Logger
	// Readiness is declared ready once the servers accept connections and
	// not ready at the start of shutdown.
	Readiness *health.Readiness

	HTTP *http.Server
	// HTTPListener is where HTTP is served; nil means Listen(HTTP.Addr).
	HTTPListener net.Listener
	GRPC         *grpc.Server
	// GRPCListener is where GRPC is served; required when GRPC is set.
	GRPCListener net.Listener

	// Registrar, when set, runs once the process is ready.
	Registrar Registrar

	// Jobs are background loops. They run until shutdown step 4 cancels
	// their context; one returning an error earlier stops the process.
	Jobs []func(ctx context.Context) error

	// Closers release resources after everything else has stopped, in
	// reverse order (the last opened is closed first).
	Closers []io.Closer

	// DrainTimeout bounds the wait for in-flight work (default
	// DefaultDrainTimeout); past it connections are closed forcibly. The
	// wait for jobs to stop has the same bound.
	DrainTimeout time.Duration
	// DeregisterTimeout bounds step 1 (default DefaultDeregisterTimeout).
	DeregisterTimeout time.Duration
	// DeregisterGrace is how long the servers keep accepting and serving
	// new work after the instance left the registry, before the drain
	// closes the listeners: callers learn of the deregistration through
	// their etcd watch a moment later, and until then they still send
	// here. Zero means no wait; it applies only with a Registrar (kitshop
	// processes use config's -deregister-grace, 1.5 s by default).
	DeregisterGrace time.Duration
	// DrainDelay is an optional pause between failing readiness and
	// draining, for load balancers that only notice on their next probe.
	// When both are set, the drain starts once both have passed.
	DrainDelay time.Duration
}

// Run starts the servers, declares the process ready, starts the
// registrar and the jobs, and waits until ctx is done (see SignalContext)
// or a server, job or the registrar fails. It then shuts down in the order
// the package documentation gives and returns the error that caused the
// shutdown, or else the first error met while shutting down; nil after a
// clean shutdown requested through ctx.
func (a *App) Run(ctx context.Context) error {
	logger := a.Logger
	if logger == nil {
		logger = log.NewNopLogger()
	}
	logger = log.With(logger, "component", "lifecycle")
	httpL, err := a.listen()
	if err != nil {
		return err
	}
	r := &run{app: a, logger: logger, httpL: httpL, failed: make(chan error, 3+len(a.Jobs))}
	r.start(ctx)
	cause := r.wait(ctx)
	return r.shutdown(cause)
}

// listen checks the servers have listeners and returns the HTTP one,
// opening it from HTTP.Addr when none was given.
func (a *App) listen() (net.Listener, error) {
	if a.GRPC != nil && a.GRPCListener == nil {
		return nil, errors.New("lifecycle: GRPC is set but GRPCListener is nil (open it with Listen)")
	}
	if a.HTTP == nil || a.HTTPListener != nil {
		return a.HTTPListener, nil
	}
	return Listen(a.HTTP.Addr)
}

// run is the state of one App.Run.
type run struct {
	app    *App
	logger log.Logger
	httpL  net.Listener
	// failed receives at most one error from each server, job and the
	// registrar, so its buffer never fills.
	failed chan error

	servers  sync.WaitGroup
	jobs     sync.WaitGroup
	jobErrs  chan error
	stopJobs context.CancelFunc
	stopReg  context.CancelFunc
	regDone  chan struct{}
}

func (r *run) info(keyvals ...any) {
	_ = level.Info(r.logger).Log(keyvals...)
}

func (r *run) errorf(keyvals ...any) {
	_ = level.Error(r.logger).Log(keyvals...)
}

func (r *run) start(ctx context.Context) {
	a := r.app
	// Background work must outlive ctx: it is cancelled at its own step of
	// the shutdown, not when the shutdown starts. It keeps ctx's values.
	base := context.WithoutCancel(ctx)

	if a.HTTP != nil {
		r.info("msg", "serving HTTP", "addr", r.httpL.Addr().String())
		r.servers.Add(1)
		go func() {
			defer r.servers.Done()
			if err := a.HTTP.Serve(r.httpL); err != nil && !errors.Is(err, http.ErrServerClosed) {
				r.failed <- fmt.Errorf("lifecycle: HTTP server: %w", err)
			}
		}()
	}
	if a.GRPC != nil {
		r.info("msg", "serving gRPC", "addr", a.GRPCListener.Addr().String())
		r.servers.Add(1)
		go func() {
			defer r.servers.Done()
			// Serve returns nil after Stop or GracefulStop.
			if err := a.GRPC.Serve(a.GRPCListener); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				r.failed <- fmt.Errorf("lifecycle: gRPC server: %w", err)
			}
		}()
	}

	jobCtx, stopJobs := context.WithCancel(base)
	r.stopJobs = stopJobs
	r.jobErrs = make(chan error, len(a.Jobs))
	for i, job := range a.Jobs {
		r.jobs.Add(1)
		go func() {
			defer r.jobs.Done()
			err := job(jobCtx)
			switch {
			case jobCtx.Err() != nil:
				// Stopped by the shutdown: only an error other than the
				// cancellation itself is worth reporting.
				if err != nil && !errors.Is(err, context.Canceled) {
					r.jobErrs <- fmt.Errorf("lifecycle: job %d: %w", i, err)
				}
			case err != nil:
				r.failed <- fmt.Errorf("lifecycle: job %d: %w", i, err)
			default:
				r.info("msg", "job finished", "job", i)
			}
		}()
	}

	// Registration follows readiness: a registrar that can leave the
	// registry while the process is not serving (a readiness check such as
	// the database ping failing) is told every change of the verdict,
	// starting before it runs, so it never lists an instance that is not
	// ready.
	if f, ok := a.Registrar.(ServingFollower); ok && a.Readiness != nil {
		a.Readiness.SubscribeServing(f.SetServing)
	}

	// The listeners already accept connections (the kernel queues them
	// until Serve picks them up), so the process is ready now.
	if a.Readiness != nil {
		a.Readiness.SetReady(true)
	}
	r.info("msg", "ready", "service", a.Name)

	r.regDone = make(chan struct{})
	if a.Registrar == nil {
		close(r.regDone)
		r.stopReg = func() {}
		return
	}
	regCtx, stopReg := context.WithCancel(base)
	r.stopReg = stopReg
	go func() {
		defer close(r.regDone)
		err := a.Registrar.Run(regCtx)
		if err != nil && regCtx.Err() == nil {
			r.failed <- fmt.Errorf("lifecycle: registrar: %w", err)
		}
	}()
}

// wait blocks until shutdown is requested (nil) or something failed.
func (r *run) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		r.info("msg", "shutdown requested", "reason", context.Cause(ctx).Error())
		return nil
	case err := <-r.failed:
		r.errorf("msg", "failure, shutting down", "err", err)
		return err
	}
}
