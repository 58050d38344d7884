package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/saga"
	"github.com/kitshop/kitshop/orders/client"
	paymentsv1 "github.com/kitshop/kitshop/pb/payments/v1"
	productsclient "github.com/kitshop/kitshop/products/client"
)

var errExpired = errs.New(errs.FailedPrecondition, productsclient.ReasonReservationExpired, "expired")

// TestCrashAtEveryStep kills the instance driving a checkout right after
// a peer call took effect and before the saga could record it, then
// starts a new instance over the same database: it must bring the order
// to a correct end, charging at most once and losing no stock.
//
// The new instance has no card (cards are never stored), so a checkout
// that crashed before its charge is cancelled with PAYMENT_FAILED;
// TestIdempotentRetryTakesOverACrashedCheckout shows the client's retry
// completing it instead.
func TestCrashAtEveryStep(t *testing.T) {
	for _, tc := range []struct {
		name, method string
		card         string
		extra        hook // more faults
		step         string
		status       Status
		reason       string
		captured     int
		refunded     bool
	}{
		{"validate_user", "ValidateUser", cardOK, nil, stepValidateUser, StatusCancelled, client.ReasonPaymentFailed, 0, false},
		{"reserve", "ReserveInventory", cardOK, nil, stepReserve, StatusCancelled, client.ReasonPaymentFailed, 0, false},
		{"charge", "Charge", cardOK, nil, stepCharge, StatusConfirmed, "", 1, false},
		{"commit", "CommitReservation", cardOK, nil, stepCommit, StatusConfirmed, "", 1, false},
		{"release", "ReleaseReservation", cardDeclined, nil, stepReserve, StatusCancelled, client.ReasonPaymentDeclined, 0, false},
		{"refund", "Refund", cardOK, failing("CommitReservation", errExpired), stepCharge, StatusCancelled, client.ReasonReservationExpired, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachStore(t, func(t *testing.T, w *world) {
				a := w.service("a")
				mug := w.products.add("mug", 1000, "USD", 5)
				crash, crashed := crashAfter(a, tc.method)
				hooks := []hook{crash}
				if tc.extra != nil {
					hooks = append(hooks, tc.extra)
				}
				w.peers.setHook(chain(hooks...))
				req := order(tc.card, mug, 2)
				req.Async = true
				placed, err := a.PlaceOrder(w.ctx(), req)
				if err != nil {
					t.Fatal(err)
				}
				id := placed.Order.ID
				waitClosed(t, crashed, "the crash")
				_ = a.Close()

				st, err := w.store.LoadSaga(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				if st.Status.Final() || !stepIn(st, tc.step, saga.StepStarted, saga.StepCompensating) {
					t.Fatalf("after the crash the saga is %s with %s %s; want unfinished with the step's outcome lost",
						st.Status, tc.step, stepStatus(st, tc.step))
				}
				if o := w.order(id); o.Status != StatusPending {
					t.Fatalf("order %s after the crash", o.Status)
				}

				// The dead instance's lease runs out; another takes over.
				w.clock.Advance(defaultLeaseTTL + time.Second)
				b := w.service("b")
				if n, err := b.resumeRound(context.Background()); n != 1 || err != nil {
					t.Fatalf("resume round = %d, %v", n, err)
				}
				w.waitSaga(id)
				o := w.waitStatus(id, tc.status)
				if o.FailureReason != tc.reason {
					t.Errorf("failure reason %q, want %q", o.FailureReason, tc.reason)
				}
				if n := w.payments.captured(); n != tc.captured {
					t.Errorf("charged %d times, want %d", n, tc.captured)
				}
				p, charged := w.payments.payment(id)
				switch {
				case tc.status == StatusConfirmed && (o.PaymentID != p.ID || p.Status != paymentsv1.PaymentStatus_PAYMENT_STATUS_CAPTURED):
					t.Errorf("confirmed order's payment %q, recorded %+v", o.PaymentID, p)
				case tc.refunded && p.Refunded != p.Amount:
					t.Errorf("payment %+v not refunded", p)
				case tc.status == StatusCancelled && charged && p.Status == paymentsv1.PaymentStatus_PAYMENT_STATUS_CAPTURED:
					t.Errorf("cancelled order's payment left captured: %+v", p)
				}
				want := int64(5)
				if tc.status == StatusConfirmed {
					want = 3
				}
				if got := w.products.get(mug); got.stock != want {
					t.Errorf("stock %d, want %d", got.stock, want)
				}
				w.conserved(mug)
			})
		})
	}
}

func stepStatus(st saga.State, name string) saga.StepStatus {
	for _, s := range st.Steps {
		if s.Name == name {
			return s.Status
		}
	}
	return ""
}

func stepIn(st saga.State, name string, statuses ...saga.StepStatus) bool {
	for _, s := range statuses {
		if stepStatus(st, name) == s {
			return true
		}
	}
	return false
}

// noComplete is a store on which recording an idempotent answer fails,
// as if the instance died before it could.
type noComplete struct{ Store }

func (noComplete) CompleteIdempotent(context.Context, string, string, json.RawMessage, time.Time) error {
	return errs.New(errs.Unavailable, errs.ReasonUnavailable, "gone")
}

// TestIdempotentRetryTakesOverACrashedCheckout: the instance serving a
// keyed placement dies after reserving; the client retries with the same
// key on another instance once the first request's lock has expired, and
// that retry (which carries the card again) completes the same order.
func TestIdempotentRetryTakesOverACrashedCheckout(t *testing.T) {
	kittest.CheckGoroutines(t)
	w := newWorld(t)
	mug := w.products.add("mug", 1000, "USD", 5)
	a, err := NewService(noComplete{w.store}, w.users, w.products, w.payments,
		Options{Owner: "a", Now: w.clock.Now, Retry: fast, CompensateRetry: fast, Patience: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	crash, crashed := crashAfter(a, "ReserveInventory")
	w.peers.setHook(crash)
	req := order(cardOK, mug, 2)
	req.IdempotencyKey = "checkout-1"
	ctx, cancel := context.WithTimeout(asUser(w.user, "customer"), time.Second)
	defer cancel()
	first, err := a.PlaceOrder(ctx, req)
	if err != nil || first.Order.Status != StatusPending {
		t.Fatalf("first attempt = %+v, %v; want PENDING", first, err)
	}
	waitClosed(t, crashed, "the crash")
	_ = a.Close()

	b := w.service("b")
	// While the first request may still be answering, a repeat is 409.
	_, err = b.PlaceOrder(w.ctx(), req)
	kittest.WantErr(t, err, errs.FailedPrecondition, client.ReasonIdempotencyInProgress)

	w.clock.Advance(defaultLeaseTTL + time.Minute)
	second, err := b.PlaceOrder(w.ctx(), req)
	if err != nil || second.Order.ID != first.Order.ID || second.Order.Status != StatusConfirmed || second.Replayed {
		t.Fatalf("retry = %+v, %v; want order %s CONFIRMED", second, err, first.Order.ID)
	}
	if w.payments.captured() != 1 || w.peers.count("ReserveInventory") != 2 {
		t.Errorf("%d charges, %d reservation calls", w.payments.captured(), w.peers.count("ReserveInventory"))
	}
	third, err := b.PlaceOrder(w.ctx(), req)
	if err != nil || !third.Replayed || !identical(third.Order, second.Order) {
		t.Errorf("replay = %+v, %v; want %+v replayed", third, err, second.Order)
	}
	w.conserved(mug)
}

// TestCompensationThatKeepsFailingNeedsAttention: a declined charge whose
// reservation cannot be released within the compensation's retries
// leaves the order REQUIRES_ATTENTION, counted and listed.
func TestCompensationThatKeepsFailingNeedsAttention(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		s := w.service("a")
		mug := w.products.add("mug", 1000, "USD", 5)
		w.peers.setHook(failing("ReleaseReservation", errs.New(errs.Unavailable, errs.ReasonUnavailable, "products down")))
		_, err := s.PlaceOrder(w.ctx(), order(cardDeclined, mug, 1))
		o := failedOrder(t, err, ErrRequiresAttention)
		if o.Status != StatusRequiresAttention || o.FailureReason != client.ReasonPaymentDeclined {
			t.Errorf("order %s %s, want REQUIRES_ATTENTION PAYMENT_DECLINED", o.Status, o.FailureReason)
		}
		if n := w.peers.count("ReleaseReservation"); n != fast.Attempts {
			t.Errorf("release tried %d times, want %d", n, fast.Attempts)
		}
		if got := testutil.ToFloat64(s.metrics.attention); got != 1 {
			t.Errorf("attention metric %v, want 1", got)
		}
		if got := testutil.ToFloat64(s.metrics.sagas.WithLabelValues(checkoutName, string(saga.RequiresAttention))); got != 1 {
			t.Errorf("sagas metric %v, want 1", got)
		}
		infos, err := s.Sagas(w.admin(), SagasAttention, 10)
		if err != nil || len(infos) != 1 || infos[0].OrderID != o.ID || infos[0].Kind != "checkout" {
			t.Errorf("attention sagas %+v, %v", infos, err)
		}
		_, err = s.Sagas(w.ctx(), SagasAttention, 10)
		kittest.WantErr(t, err, errs.PermissionDenied, errs.ReasonForbidden)
		_, err = s.Sagas(w.admin(), "nope", 0)
		if e := kittest.WantErr(t, err, errs.InvalidArgument, errs.ReasonValidation); len(e.Fields) != 2 {
			t.Errorf("fields %v, want state and limit", e.Fields)
		}
	})
}

// TestJobsResumeAndStop runs the jobs as main does: the resume loop takes
// over a dead instance's checkout once its lease expired, and ending the
// jobs' context stops everything.
func TestJobsResumeAndStop(t *testing.T) {
	kittest.CheckGoroutines(t)
	w := newWorld(t)
	a := w.service("a")
	mug := w.products.add("mug", 1000, "USD", 5)
	crash, crashed := crashAfter(a, "Charge")
	w.peers.setHook(crash)
	req := order(cardOK, mug, 1)
	req.Async = true
	placed, err := a.PlaceOrder(w.ctx(), req)
	if err != nil {
		t.Fatal(err)
	}
	waitClosed(t, crashed, "the crash")
	_ = a.Close()
	w.clock.Advance(defaultLeaseTTL + time.Second)

	b := w.service("b", func(o *Options) { o.ResumeInterval = 10 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	jobs := b.Jobs()
	done := make(chan error, len(jobs))
	for _, job := range jobs {
		go func() { done <- job(ctx) }()
	}
	w.waitStatus(placed.Order.ID, StatusConfirmed)
	cancel()
	for range jobs {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("job ended with %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a job did not stop")
		}
	}
	if w.payments.captured() != 1 {
		t.Errorf("%d charges", w.payments.captured())
	}
	// Driving stopped with the jobs: a new saga is left to the next
	// instance rather than driven.
	if d := b.runner.start(context.Background(), "x"); d != nil {
		t.Error("runner still drives after the jobs stopped")
	}
}

func identical(a, b Order) bool {
	ja, _ := json.Marshal(toDoc(a))
	jb, _ := json.Marshal(toDoc(b))
	return string(ja) == string(jb)
}

// TestCommitWhoseAnswerIsLostIsRestocked: the commit takes effect but its
// answer never arrives, so the checkout fails after it sold the units;
// compensation refunds the charge and, the reservation being committed,
// returns the units through RestockItems.
func TestCommitWhoseAnswerIsLostIsRestocked(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		s := w.service("a")
		mug := w.products.add("mug", 1000, "USD", 5)
		w.peers.setHook(func(_ context.Context, m string, after bool) error {
			if m == "CommitReservation" && after {
				return errs.New(errs.Unavailable, errs.ReasonUnavailable, "answer lost")
			}
			return nil
		})
		_, err := s.PlaceOrder(w.ctx(), order(cardOK, mug, 2))
		o := failedOrder(t, err, errs.New(errs.Unavailable, errs.ReasonUnavailable, ""))
		if o.Status != StatusCancelled || o.FailureReason != errs.ReasonUnavailable {
			t.Errorf("order %s %s", o.Status, o.FailureReason)
		}
		if p, _ := w.payments.payment(o.ID); p.Refunded != p.Amount || p.Amount != 2000 {
			t.Errorf("payment %+v, want 2000 refunded", p)
		}
		if n := w.peers.count("RestockItems"); n != 1 {
			t.Errorf("RestockItems called %d times", n)
		}
		if got := w.products.get(mug); got.stock != 5 {
			t.Errorf("stock %d, want 5 back", got.stock)
		}
		w.conserved(mug)
	})
}

// TestPeerDownParksTheCheckout: with payments unreachable, the checkout
// waits (parked, the order PENDING) instead of failing; it completes once
// payments is back, or, when the outage outlasts Patience, is compensated.
func TestPeerDownParksTheCheckout(t *testing.T) {
	for _, tc := range []struct {
		name    string
		back    bool
		advance time.Duration
		want    Status
	}{
		{"payments comes back", true, 6 * time.Second, StatusConfirmed},
		{"outage outlasts patience", false, 2 * time.Minute, StatusCancelled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachStore(t, func(t *testing.T, w *world) {
				s := w.service("a", func(o *Options) { o.Patience = time.Minute })
				mug := w.products.add("mug", 1000, "USD", 5)
				down := failing("Charge", errs.New(errs.Unavailable, "BREAKER_OPEN", "payments is down"))
				w.peers.setHook(down)
				ctx, cancel := context.WithTimeout(asUser(w.user, "customer"), 500*time.Millisecond)
				defer cancel()
				placed, err := s.PlaceOrder(ctx, order(cardOK, mug, 1))
				if err != nil || placed.Order.Status != StatusPending {
					t.Fatalf("placement = %+v, %v; want PENDING", placed, err)
				}
				id := placed.Order.ID
				st, _ := w.store.LoadSaga(context.Background(), id)
				if st.Status != saga.Running || stepStatus(st, stepCharge) != saga.StepStarted {
					t.Fatalf("saga %s, charge %s; want parked at the charge", st.Status, stepStatus(st, stepCharge))
				}
				if tc.back {
					w.peers.setHook(nil)
				}
				w.clock.Advance(tc.advance)
				if n, err := s.resumeRound(context.Background()); n != 1 || err != nil {
					t.Fatalf("resume = %d, %v", n, err)
				}
				o := w.waitStatus(id, tc.want)
				if tc.want == StatusCancelled && o.FailureReason != client.ReasonPaymentFailed {
					t.Errorf("reason %q", o.FailureReason)
				}
				if want := map[bool]int{true: 1, false: 0}[tc.back]; w.payments.captured() != want {
					t.Errorf("%d charges, want %d", w.payments.captured(), want)
				}
				w.conserved(mug)
			})
		})
	}
}
