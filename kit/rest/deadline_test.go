package rest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

// frozenStore waits for the request to end, then fails as a database
// client does when its statement is cancelled: as an outage (503).
func frozenStore(ctx context.Context, _ *productsv1.GetProductRequest) (*productsv1.Product, error) {
	<-ctx.Done()
	return nil, errs.Wrap(errs.Unavailable, errs.ReasonUnavailable,
		errors.New("pq: canceling statement due to user request"), "database unavailable")
}

func getProduct(call func(context.Context, *productsv1.GetProductRequest) (*productsv1.Product, error), timeout time.Duration) Route {
	return Unary(Spec[*productsv1.GetProductRequest, *productsv1.Product]{
		Method: http.MethodGet, Path: "/api/v1/products/{id}", Call: call, Timeout: timeout,
	})
}

// TestFrozenCallEndsIn504: with Postgres frozen, a kit/rest route used to
// wait for the router's cap, which was the server's write timeout, so the
// client got an empty reply after 60 s. Now the call ends at the route's
// deadline with a 504 problem, not the 503 the store's error would make.
func TestFrozenCallEndsIn504(t *testing.T) {
	const deadline = 100 * time.Millisecond
	h := serve(t, []Route{getProduct(frozenStore, deadline)})
	// The test's own bound, so that a route without its deadline fails
	// in seconds rather than at the router's cap.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	begin := time.Now()
	r := do(t, h, newRequest(http.MethodGet, "/api/v1/products/p1", "", nil).WithContext(ctx))
	took := time.Since(begin)
	wantProblem(t, r, http.StatusGatewayTimeout, errs.ReasonDeadline)
	if took < deadline || took > deadline+2*time.Second {
		t.Fatalf("answered after %v, want soon after the route's deadline of %v", took, deadline)
	}
}

// TestCallsGetADeadline: every call runs under httpx.DefaultTimeout unless
// its Spec says otherwise, as httpx.Handler's endpoints do.
func TestCallsGetADeadline(t *testing.T) {
	var left time.Duration
	call := func(ctx context.Context, r *productsv1.GetProductRequest) (*productsv1.Product, error) {
		dl, ok := ctx.Deadline()
		if !ok {
			return nil, errors.New("no deadline")
		}
		left = time.Until(dl)
		return mug, nil
	}
	for _, c := range []struct {
		timeout, want time.Duration
	}{
		{0, httpx.DefaultTimeout},
		{2 * time.Second, 2 * time.Second},
	} {
		h := serve(t, []Route{getProduct(call, c.timeout)})
		if r := do(t, h, newRequest(http.MethodGet, "/api/v1/products/p1", "", nil)); r.status != http.StatusOK {
			t.Fatalf("Timeout %v: %d %s", c.timeout, r.status, r.raw)
		}
		if left > c.want || left < c.want-time.Second {
			t.Fatalf("Timeout %v: the call's deadline was in %v, want about %v", c.timeout, left, c.want)
		}
	}
}

// TestClientGoneIs499: work abandoned by its client is the client's doing
// (499 Canceled), not an outage of this server (503).
func TestClientGoneIs499(t *testing.T) {
	h := serve(t, []Route{getProduct(frozenStore, 0)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := httptest.NewRequest(http.MethodGet, "/api/v1/products/p1", nil).WithContext(ctx)
	time.AfterFunc(20*time.Millisecond, cancel)
	wantProblem(t, do(t, h, req), 499, errs.ReasonCanceled)
}

// TestDeadlineLeavesBusinessErrorsAlone: a real answer that arrives as
// the deadline passes is still that answer.
func TestDeadlineLeavesBusinessErrorsAlone(t *testing.T) {
	h := serve(t, []Route{getProduct(func(ctx context.Context, _ *productsv1.GetProductRequest) (*productsv1.Product, error) {
		<-ctx.Done()
		return nil, errs.New(errs.NotFound, "PRODUCT_NOT_FOUND", "no such product")
	}, 20*time.Millisecond)})
	wantProblem(t, do(t, h, newRequest(http.MethodGet, "/api/v1/products/p1", "", nil)), http.StatusNotFound, "PRODUCT_NOT_FOUND")
}

func TestTimeoutOutOfRangeIsABrokenSpec(t *testing.T) {
	ok := func(context.Context, *productsv1.GetProductRequest) (*productsv1.Product, error) { return mug, nil }
	for _, d := range []time.Duration{-time.Second, httpx.MaxRequestTimeout + time.Second} {
		if getProduct(ok, d).Err() == nil {
			t.Errorf("Timeout %v accepted", d)
		}
	}
}
