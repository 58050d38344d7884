package lifecycle

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
)

// recorder collects events from every goroutine in the order they happen.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(e string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (r *recorder) has(e string) bool { return slices.Contains(r.list(), e) }

// assertOrder checks that want occur in events in this order.
func assertOrder(t *testing.T, events, want []string) {
	t.Helper()
	next := 0
	for _, w := range want {
		i := slices.Index(events[next:], w)
		if i < 0 {
			t.Fatalf("event %q missing or out of order in %q (want order %q)", w, events, want)
		}
		next += i + 1
	}
}

// fakeRegistrar records its calls; Run blocks like a keep-alive loop.
type fakeRegistrar struct {
	rec       *recorder
	runErr    error
	deregErr  error
	readyNow  func() bool
	readyAtRg bool
}

func (f *fakeRegistrar) Run(ctx context.Context) error {
	f.readyAtRg = f.readyNow()
	f.rec.add("register")
	if f.runErr != nil {
		return f.runErr
	}
	<-ctx.Done()
	f.rec.add("registrar-stopped")
	return ctx.Err()
}

func (f *fakeRegistrar) Deregister(context.Context) error {
	f.rec.add("deregister")
	return f.deregErr
}

// slowService is a one-method gRPC service, kitshop.test.Slow/Wait, whose
// calls block until release is closed or the call's context ends.
const slowMethod = "/kitshop.test.Slow/Wait"

func registerSlow(s *grpc.Server, started chan<- struct{}, release <-chan struct{}) {
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: "kitshop.test.Slow",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Wait",
			Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				if err := dec(new(emptypb.Empty)); err != nil {
					return nil, err
				}
				started <- struct{}{}
				select {
				case <-release:
					return new(emptypb.Empty), nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			},
		}},
	}, struct{}{})
}

func dialGRPC(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// slowHandler blocks until release is closed or the client goes away.
func slowHandler(started chan<- struct{}, release <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-release:
			_, _ = w.Write([]byte("done"))
		case <-r.Context().Done():
		}
	})
}
