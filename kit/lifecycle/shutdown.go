package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// shutdown runs the ordered stop and returns cause, or else the first
// error met on the way.
func (r *run) shutdown(cause error) error {
	a := r.app
	errs := []error{cause}
	start := time.Now()

	// 1. Deregister. The registrar's keep-alive loop is stopped first so
	// that it cannot re-register the instance behind Deregister's back.
	errs = append(errs, r.deregister())
	deregistered := time.Now()

	// 2. Fail readiness; the gRPC health service follows via Subscribe.
	// Keep serving a moment longer for callers that have not noticed.
	if a.Readiness != nil {
		a.Readiness.SetReady(false)
	}
	r.info("msg", "shutdown: readiness failed")
	r.graceBeforeDrain(deregistered)

	// 3. Drain.
	r.drain()
	r.servers.Wait()

	// 4. Stop jobs.
	errs = append(errs, r.stopJobsAndWait())

	// 5. Close resources, last opened first.
	for i := len(a.Closers) - 1; i >= 0; i-- {
		if err := a.Closers[i].Close(); err != nil {
			err = fmt.Errorf("lifecycle: closer %d: %w", i, err)
			r.errorf("msg", "shutdown: close failed", "err", err)
			errs = append(errs, err)
		}
	}
	r.info("msg", "shutdown complete", "took", time.Since(start).String())

	// A server may have failed while another failure was being handled.
	for drained := false; !drained; {
		select {
		case err := <-r.failed:
			errs = append(errs, err)
		default:
			drained = true
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// graceBeforeDrain keeps serving, listeners open, until DeregisterGrace
// has passed since deregistration (with a Registrar) and DrainDelay since
// readiness failed. Callers that have not yet seen the deregistration, or
// a probe's verdict, still reach a live server meanwhile instead of a
// refused connection.
func (r *run) graceBeforeDrain(deregistered time.Time) {
	a := r.app
	wait := a.DrainDelay
	if a.Registrar != nil && a.DeregisterGrace > 0 {
		wait = max(wait, a.DeregisterGrace-time.Since(deregistered))
	}
	if wait <= 0 {
		return
	}
	r.info("msg", "shutdown: still serving before drain", "wait", wait.String())
	time.Sleep(wait)
}

func (r *run) deregister() error {
	a := r.app
	if a.Registrar == nil {
		return nil
	}
	timeout := a.DeregisterTimeout
	if timeout <= 0 {
		timeout = DefaultDeregisterTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r.stopReg()
	select {
	case <-r.regDone:
	case <-ctx.Done():
		r.errorf("msg", "shutdown: registrar did not stop in time", "timeout", timeout.String())
	}
	if err := a.Registrar.Deregister(ctx); err != nil {
		// The registration lapses with its lease anyway; the shutdown
		// must go on.
		err = fmt.Errorf("lifecycle: deregister: %w", err)
		r.errorf("msg", "shutdown: deregister failed", "err", err)
		return err
	}
	r.info("msg", "shutdown: deregistered")
	return nil
}

// drain stops both servers gracefully and concurrently, and forcibly once
// the drain timeout expires.
func (r *run) drain() {
	a := r.app
	timeout := a.DrainTimeout
	if timeout <= 0 {
		timeout = DefaultDrainTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r.info("msg", "shutdown: draining", "timeout", timeout.String())

	var wg sync.WaitGroup
	if a.HTTP != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.HTTP.Shutdown(ctx); err != nil {
				r.errorf("msg", "shutdown: HTTP drain timed out, closing connections", "err", err)
				_ = a.HTTP.Close()
				return
			}
			r.info("msg", "shutdown: HTTP drained")
		}()
	}
	if a.GRPC != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := make(chan struct{})
			go func() {
				a.GRPC.GracefulStop()
				close(done)
			}()
			select {
			case <-done:
				r.info("msg", "shutdown: gRPC drained")
			case <-ctx.Done():
				r.errorf("msg", "shutdown: gRPC drain timed out, closing connections")
				// Stop makes the pending GracefulStop return too.
				a.GRPC.Stop()
				<-done
			}
		}()
	}
	wg.Wait()
}

func (r *run) stopJobsAndWait() error {
	a := r.app
	r.stopJobs()
	if len(a.Jobs) == 0 {
		return nil
	}
	timeout := a.DrainTimeout
	if timeout <= 0 {
		timeout = DefaultDrainTimeout
	}
	done := make(chan struct{})
	go func() {
		r.jobs.Wait()
		close(done)
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-done:
		r.info("msg", "shutdown: jobs stopped")
	case <-timer.C:
		err := errors.New("lifecycle: jobs did not stop within the drain timeout")
		r.errorf("msg", "shutdown: jobs ignored cancellation", "err", err)
		return err
	}
	close(r.jobErrs)
	var first error
	for err := range r.jobErrs {
		r.errorf("msg", "shutdown: job failed while stopping", "err", err)
		if first == nil {
			first = err
		}
	}
	return first
}
