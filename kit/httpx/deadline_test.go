package httpx

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/typed"
)

// frozenStore waits for the request to end, then fails the way a database
// client does when its statement is cancelled: as an outage.
func frozenStore(ctx context.Context, _ struct{}) (named, error) {
	<-ctx.Done()
	return named{}, errs.Wrap(errs.Unavailable, errs.ReasonUnavailable,
		errors.New("pq: canceling statement due to user request"), "database unavailable")
}

func TestHandlerGivesEveryRequestADeadline(t *testing.T) {
	var left time.Duration
	e := typed.Endpoint(func(ctx context.Context, _ struct{}) (named, error) {
		dl, ok := ctx.Deadline()
		if !ok {
			return named{}, errors.New("no deadline")
		}
		left = time.Until(dl)
		return named{}, nil
	})
	rec := serve(Handler[struct{}, named](e, nil, http.StatusOK), http.MethodGet, "/x", "")
	if rec.Code != 200 || left <= DefaultTimeout-5*time.Second || left > DefaultTimeout {
		t.Fatalf("status %d, deadline in %v, want about %v", rec.Code, left, DefaultTimeout)
	}
	rec = serve(Handler[struct{}, named](e, nil, http.StatusOK, Timeout(2*time.Second)), http.MethodGet, "/x", "")
	if rec.Code != 200 || left <= time.Second || left > 2*time.Second {
		t.Fatalf("with Timeout(2s): status %d, deadline in %v", rec.Code, left)
	}
}

// TestFrozenWorkEndsIn504: with the database frozen the request used to
// hang as long as the client waited; now it ends at the route's deadline
// with 504, not with the 503 the store's error would have made of it.
func TestFrozenWorkEndsIn504(t *testing.T) {
	h := Handler[struct{}, named](typed.Endpoint(frozenStore), nil, http.StatusOK, Timeout(50*time.Millisecond))
	begin := time.Now()
	rec := serve(h, http.MethodGet, "/x", "")
	if took := time.Since(begin); took > 5*time.Second {
		t.Fatalf("answered after %v", took)
	}
	if p := problemBody(t, rec); rec.Code != http.StatusGatewayTimeout || p["code"] != errs.ReasonDeadline {
		t.Fatalf("%d %v", rec.Code, p)
	}
}

// TestClientGoneIsTheClientsCancellation: the failure of work abandoned by
// its client is the client's doing (499 Canceled), not an outage (503).
func TestClientGoneIsTheClientsCancellation(t *testing.T) {
	h := Handler[struct{}, named](typed.Endpoint(frozenStore), nil, http.StatusOK)
	ctx, cancel := context.WithCancel(context.Background())
	r := httptest.NewRequest(http.MethodGet, "/x", nil).WithContext(ctx)
	rec := httptest.NewRecorder()
	time.AfterFunc(20*time.Millisecond, cancel)
	h.ServeHTTP(rec, r)
	if p := problemBody(t, rec); rec.Code != 499 || p["code"] != errs.ReasonCanceled {
		t.Fatalf("%d %v", rec.Code, p)
	}
}

func TestRouterGivesEveryRouteADeadline(t *testing.T) {
	r := NewRouter()
	var left time.Duration
	r.HandleFunc("/raw", func(w http.ResponseWriter, r *http.Request) {
		if dl, ok := r.Context().Deadline(); ok {
			left = time.Until(dl)
		}
	})
	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/raw", nil))
	if left <= MaxRequestTimeout-5*time.Second || left > MaxRequestTimeout {
		t.Fatalf("deadline in %v, want about %v", left, MaxRequestTimeout)
	}
}

func TestWriteProblemReportsTheDeadlineNotTheOutage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), -1)
	defer cancel()
	r := httptest.NewRequest(http.MethodGet, "/x", nil).WithContext(ctx)
	rec := httptest.NewRecorder()
	WriteProblem(rec, r, errs.Wrap(errs.Unavailable, errs.ReasonUnavailable, errors.New("pool"), "database unavailable"))
	if p := problemBody(t, rec); rec.Code != 504 || !strings.Contains(p["detail"].(string), "deadline") {
		t.Fatalf("%d %v", rec.Code, p)
	}
}
