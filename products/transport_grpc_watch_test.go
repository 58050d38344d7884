package main

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/auth/authtest"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/mw"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

// gatedStore makes GetProducts (subscription snapshots and resyncs) wait
// for its context while block is set, and counts the calls inside.
type gatedStore struct {
	Store
	block   atomic.Bool
	entered chan struct{}
	inside  atomic.Int32
}

func newGatedStore() *gatedStore {
	return &gatedStore{Store: newMemoryStore(), entered: make(chan struct{}, 1)}
}

func (g *gatedStore) GetProducts(ctx context.Context, ids []string) ([]Product, error) {
	if !g.block.Load() {
		return g.Store.GetProducts(ctx, ids)
	}
	g.inside.Add(1)
	defer g.inside.Add(-1)
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

func (g *gatedStore) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("GetProducts was not called")
	}
}

// fakeWatchStream is a WatchStock server stream whose context nothing
// cancels and whose Recv and Send block until end, as grpc-go's do until
// the handler returns. It shows what the handler itself waits for.
type fakeWatchStream struct {
	grpc.ServerStream // nil: only the methods below are called
	ctx               context.Context
	in                chan *productsv1.WatchStockRequest
	sent              chan *productsv1.StockLevel
	ended             chan struct{}
}

func newFakeWatchStream(t *testing.T) *fakeWatchStream {
	s := &fakeWatchStream{ctx: context.Background(), in: make(chan *productsv1.WatchStockRequest),
		sent: make(chan *productsv1.StockLevel), ended: make(chan struct{})}
	t.Cleanup(func() { close(s.ended) })
	return s
}

var errStreamEnded = status.Error(codes.Canceled, "stream ended")

func (s *fakeWatchStream) Context() context.Context { return s.ctx }

func (s *fakeWatchStream) Recv() (*productsv1.WatchStockRequest, error) {
	select {
	case m := <-s.in:
		return m, nil
	case <-s.ended:
		return nil, errStreamEnded
	}
}

func (s *fakeWatchStream) Send(l *productsv1.StockLevel) error {
	select {
	case s.sent <- l:
		return nil
	case <-s.ended:
		return errStreamEnded
	}
}

func subscribeMsg(ids ...string) *productsv1.WatchStockRequest {
	return &productsv1.WatchStockRequest{Action: &productsv1.WatchStockRequest_Subscribe{
		Subscribe: &productsv1.StockSubscription{ProductIds: ids}}}
}

// serveFake runs the WatchStock handler on stream and returns its result.
func serveFake(f *fixture, draining chan struct{}, stream *fakeWatchStream) <-chan error {
	srv := &grpcServer{svc: f.svc, draining: draining}
	done := make(chan error, 1)
	go func() { done <- srv.WatchStock(stream) }()
	return done
}

func handlerResult(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the handler did not return")
		return nil
	}
}

// TestWatchStockHandlerWaitsForItsGoroutines: when the handler ends the
// call, work its goroutines are doing (here a subscription's snapshot
// read) is over by the time it returns, not left running against the
// store.
func TestWatchStockHandlerWaitsForItsGoroutines(t *testing.T) {
	kittest.CheckGoroutines(t)
	store := newGatedStore()
	f := newFixture(t, store, Options{})
	p := f.create(t, "GATE", 1)
	stream := newFakeWatchStream(t)
	draining := make(chan struct{})
	done := serveFake(f, draining, stream)

	store.block.Store(true)
	stream.in <- subscribeMsg(p.ID)
	store.waitEntered(t) // the reader goroutine is inside Subscribe's read
	close(draining)
	kittest.WantErr(t, handlerResult(t, done), errs.Unavailable, errs.ReasonUnavailable)
	if n := store.inside.Load(); n != 0 {
		t.Fatalf("the handler returned while %d store read(s) it started were still running", n)
	}
	if n := f.impl.watchers.Load(); n != 0 {
		t.Fatalf("%d watches still counted after the handler returned", n)
	}
}

// TestWatchStockHandlerDoesNotWaitForAParkedSend: a Send blocked by a
// client that does not read can only end when the stream does, which is
// when the handler returns; the handler must not wait for it.
func TestWatchStockHandlerDoesNotWaitForAParkedSend(t *testing.T) {
	kittest.CheckGoroutines(t)
	f := newFixture(t, newMemoryStore(), Options{})
	p := f.create(t, "PARK", 1)
	stream := newFakeWatchStream(t)
	draining := make(chan struct{})
	done := serveFake(f, draining, stream)
	stream.in <- subscribeMsg(p.ID)
	// Nobody reads stream.sent: the sender parks in Send with the snapshot.
	kittest.WaitFor(t, 10*time.Second, "the snapshot to be queued and taken", func() bool {
		f.impl.broker.mu.Lock()
		defer f.impl.broker.mu.Unlock()
		for w := range f.impl.broker.byProduct[p.ID] {
			w.mu.Lock()
			v := w.subs[p.ID]
			w.mu.Unlock()
			return v > 0 && len(w.ch) == 0
		}
		return false
	})
	close(draining)
	kittest.WantErr(t, handlerResult(t, done), errs.Unavailable, errs.ReasonUnavailable)
	// The parked Send ends with the stream (the test's cleanup), and
	// CheckGoroutines sees its goroutine go.
}

// TestGRPCWatchStockLeavesNoGoroutines ends watches every way a watch ends
// (client cancel, bad request, over the caps, shutdown) on a real server
// and checks that nothing they started outlives them.
func TestGRPCWatchStockLeavesNoGoroutines(t *testing.T) {
	kittest.CheckGoroutines(t)
	f := newFixture(t, newMemoryStore(), Options{MaxWatchers: 3, MaxWatchedProducts: 2})
	startFeed(t, f)
	ready := health.New()
	ready.SetReady(true)
	addr := serveGRPC(t, f, authtest.NewIssuer(t), mw.Chain{Service: "products"}, grpcx.ServerConfig{Service: "products", Readiness: ready})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	g := &grpcFixture{fixture: f, client: productsv1.NewProductsServiceClient(conn)}
	p, q, r := f.create(t, "LA", 1), f.create(t, "LB", 2), f.create(t, "LC", 3)

	cancelled := g.watch(t)
	cancelled.subscribe(t, p.ID)
	cancelled.expect(t, p.ID, 1, 0)
	cancelled.cancel()

	bad := g.watch(t)
	bad.subscribe(t, "not-a-uuid")
	_, err = bad.stream.Recv()
	kittest.WantStatus(t, err, codes.InvalidArgument, errs.ReasonValidation)

	tooMany := g.watch(t)
	tooMany.subscribe(t, p.ID, q.ID)
	tooMany.expect(t, p.ID, 1, 0)
	tooMany.expect(t, q.ID, 2, 0)
	tooMany.subscribe(t, r.ID)
	_, err = tooMany.stream.Recv()
	if meta := kittest.ErrorMetadata(kittest.WantStatus(t, err, codes.ResourceExhausted, "TOO_MANY_SUBSCRIPTIONS")); meta["limit"] != "2" {
		t.Fatalf("metadata %v", meta)
	}

	// Those three ended and gave their places back: three watch now, the
	// fourth is one too many.
	kittest.WaitFor(t, 10*time.Second, "ended watches to be released", func() bool { return f.impl.watchers.Load() == 0 })
	open := make([]*watchClient, 3)
	for i := range open {
		open[i] = g.watch(t)
		open[i].subscribe(t, r.ID)
		open[i].expect(t, r.ID, 3, 0)
	}
	extra := g.watch(t)
	_, err = extra.stream.Recv()
	kittest.WantStatus(t, err, codes.ResourceExhausted, "TOO_MANY_WATCHERS")

	ready.SetReady(false)
	for _, w := range open {
		_, err := w.stream.Recv()
		kittest.WantStatus(t, err, codes.Unavailable, errs.ReasonUnavailable)
	}
}

// TestGRPCWatchStockWatcherLimit: more watches than the process allows;
// the ones beyond the cap are refused with RESOURCE_EXHAUSTED, and a place
// freed by a leaving client is taken by the next.
func TestGRPCWatchStockWatcherLimit(t *testing.T) {
	const limit = 5
	f := newFixture(t, newMemoryStore(), Options{MaxWatchers: limit})
	g := newGRPCFixture(t, f)
	p := f.create(t, "CAP", 1)
	var open []*watchClient
	for range limit {
		w := g.watch(t)
		w.subscribe(t, p.ID)
		w.expect(t, p.ID, 1, 0)
		open = append(open, w)
	}
	for range 3 {
		w := g.watch(t)
		_, err := w.stream.Recv()
		if e := errs.FromGRPC(kittest.WantStatus(t, err, codes.ResourceExhausted, "TOO_MANY_WATCHERS").Err()); !errs.As(e).Expected {
			t.Fatalf("a full instance must not count against itself: %v", e)
		}
	}
	open[0].cancel()
	kittest.WaitFor(t, 10*time.Second, "the cancelled watch to free its place", func() bool {
		return f.impl.watchers.Load() == limit-1
	})
	w := g.watch(t)
	w.subscribe(t, p.ID)
	w.expect(t, p.ID, 1, 0)
	if n := f.impl.watchers.Load(); n != limit {
		t.Fatalf("%d watches counted, want %d", n, limit)
	}
}
