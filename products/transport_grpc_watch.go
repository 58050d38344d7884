package main

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/kitshop/kitshop/kit/errs"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

// WatchStock runs two goroutines besides the handler: a reader applying the
// client's subscribe and unsubscribe messages, and a sender pushing levels.
// Sending happens off the handler goroutine on purpose: a client that stops
// reading blocks Send (HTTP/2 flow control), and the handler must still be
// able to end the call with RESOURCE_EXHAUSTED once the watch's bounded
// queue overflows.
//
// The handler returns only after both goroutines have finished everything
// but a Recv or Send on the stream itself (see streamGoroutines): nothing
// it started uses the watch, the service or the store once it returned.
//
// The client closing its send side only means "no more subscription
// changes": levels keep coming until it cancels the call.
func (s *grpcServer) WatchStock(stream productsv1.ProductsService_WatchStockServer) error {
	// Cancelling ctx ends every wait of the goroutines except the stream's
	// own Recv and Send: subscription reads, resyncs, Next.
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	w, err := s.svc.WatchStock(ctx)
	if err != nil {
		return err
	}
	g := newStreamGoroutines()
	done := make(chan error, 2) // never blocks a goroutine
	g.Go(func() { done <- readSubscriptions(ctx, stream, w, g) })
	g.Go(func() { done <- sendLevels(ctx, stream, w, g) })
	select {
	case err = <-done:
	case <-w.Done():
		err = w.Err()
	case <-s.draining:
		err = errShuttingDown
	}
	cancel()
	w.Close()
	g.StopAndWait()
	return err
}

func readSubscriptions(ctx context.Context, stream productsv1.ProductsService_WatchStockServer, w *StockWatch, g *streamGoroutines) error {
	for {
		var (
			m   *productsv1.WatchStockRequest
			err error
		)
		if !g.Blocking(func() { m, err = stream.Recv() }) {
			return nil
		}
		if errors.Is(err, io.EOF) {
			// Half-close: keep the watch running (see WatchStock).
			<-ctx.Done()
			return ctx.Err()
		}
		if err != nil {
			return err
		}
		switch a := m.GetAction().(type) {
		case *productsv1.WatchStockRequest_Subscribe:
			err = w.Subscribe(ctx, a.Subscribe.GetProductIds())
		case *productsv1.WatchStockRequest_Unsubscribe:
			err = w.Unsubscribe(a.Unsubscribe.GetProductIds())
		default:
			err = errs.Invalid(errs.FieldViolation{Field: "action", Message: "must be subscribe or unsubscribe"})
		}
		if err != nil {
			return err
		}
	}
}

func sendLevels(ctx context.Context, stream productsv1.ProductsService_WatchStockServer, w *StockWatch, g *streamGoroutines) error {
	for {
		l, err := w.Next(ctx)
		if err != nil {
			return err
		}
		msg := stockLevelToPB(l)
		if !g.Blocking(func() { err = stream.Send(msg) }) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// streamGoroutines runs the goroutines of one stream handler so that the
// handler can wait for them before it returns.
//
// A handler cannot interrupt a Recv or Send on its own stream: grpc-go
// releases them only when the handler returns, or the client or the
// connection goes (grpc/grpc-go#465, #3909; etcd's watch server has the
// same limit). Waiting for a goroutine parked in one would deadlock. So a
// goroutine wraps each such call in Blocking, and StopAndWait waits until
// every goroutine has returned or is inside Blocking; one that comes back
// out of Blocking after the stop is told to return at once, touching
// nothing else.
type streamGoroutines struct {
	mu      sync.Mutex
	idle    *sync.Cond
	busy    int // goroutines running outside Blocking
	stopped bool
}

func newStreamGoroutines() *streamGoroutines {
	g := &streamGoroutines{}
	g.idle = sync.NewCond(&g.mu)
	return g
}

// Go runs f on a new goroutine.
func (g *streamGoroutines) Go(f func()) {
	g.mu.Lock()
	g.busy++
	g.mu.Unlock()
	go func() {
		defer g.leave()
		f()
	}()
}

func (g *streamGoroutines) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.busy--; g.busy == 0 {
		g.idle.Broadcast()
	}
}

// Blocking runs call, a Recv or Send on the stream, without StopAndWait
// waiting for it. It reports whether the goroutine may go on: false once
// StopAndWait was called, and then the goroutine must return at once.
func (g *streamGoroutines) Blocking(call func()) bool {
	g.leave()
	call()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.busy++ // undone by Go's leave when the goroutine returns
	return !g.stopped
}

// StopAndWait stops the goroutines and waits until none runs outside
// Blocking. Whatever else they wait on must have been ended first (the
// handler cancels their context and closes the watch), so the wait is as
// short as their work after a cancel.
func (g *streamGoroutines) StopAndWait() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stopped = true
	for g.busy > 0 {
		g.idle.Wait()
	}
}

// errShuttingDown is Expected: this instance is healthy, just leaving, so
// the client should watch again elsewhere without counting it as a failure.
var errShuttingDown = errs.New(errs.Unavailable, errs.ReasonUnavailable, "server is shutting down; watch again").AsExpected()
