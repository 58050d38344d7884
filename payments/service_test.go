package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/typed"
	"github.com/kitshop/kitshop/kit/valid"
	"github.com/kitshop/kitshop/payments/client"
)

// testNow is the service clock in tests: cards expiring in May 2030 are
// still good, April 2030 ones are not.
var testNow = time.Date(2030, 5, 17, 10, 30, 0, 0, time.UTC)

// countingProcessor wraps the simulated processor and counts the calls
// it sees, so tests can tell a replay (no call) from a repeat that asks the
// processor again; sim.Charges counts what the processor actually charged.
type countingProcessor struct {
	Processor
	sim   *SimulatedProcessor
	calls atomic.Int32
}

func (c *countingProcessor) Charge(ctx context.Context, key string, card Card, amount int64, currency string) (Decision, error) {
	c.calls.Add(1)
	return c.Processor.Charge(ctx, key, card, amount, currency)
}

// approved is how many charges the processor approved: money that moved.
func (c *countingProcessor) approved(t *testing.T) int {
	t.Helper()
	return countApproved(t, c.sim)
}

func countApproved(t *testing.T, sim *SimulatedProcessor) int {
	t.Helper()
	charges, err := sim.Charges(context.Background())
	if err != nil {
		t.Fatalf("processor charges: %v", err)
	}
	n := 0
	for _, c := range charges {
		if c.Decision.Outcome == Approved {
			n++
		}
	}
	return n
}

type svcFixture struct {
	svc   *service
	store Store
	proc  *countingProcessor
}

func newSvcFixture(t *testing.T, store Store) *svcFixture {
	t.Helper()
	sim := NewSimulatedProcessor()
	proc := &countingProcessor{Processor: sim, sim: sim}
	return &svcFixture{
		svc:   NewService(store, nil, Options{Processor: proc, Now: func() time.Time { return testNow }}),
		store: store,
		proc:  proc,
	}
}

func card(number string) Card {
	return Card{Number: CardNumber(number), ExpMonth: 12, ExpYear: 2031, CVC: "123"}
}

func chargeReq(number string) ChargeRequest {
	return ChargeRequest{
		OrderID: uuid.NewString(), UserID: uuid.NewString(), AmountCents: 2500, Currency: "EUR",
		Card: card(number), IdempotencyKey: "charge-" + uuid.NewString(),
	}
}

func wantFields(t *testing.T, err error, fields ...string) {
	t.Helper()
	e := kittest.WantErr(t, err, errs.InvalidArgument, errs.ReasonValidation)
	got := map[string]bool{}
	for _, f := range e.Fields {
		got[f.Field] = true
	}
	for _, f := range fields {
		if !got[f] {
			t.Errorf("no violation for %s in %+v", f, e.Fields)
		}
	}
	if len(got) != len(fields) {
		t.Errorf("violations %+v, want exactly %v", e.Fields, fields)
	}
}

func (f *svcFixture) events(t *testing.T, id string) []EventType {
	t.Helper()
	evs, err := f.store.Events(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var types []EventType
	for _, ev := range evs {
		types = append(types, ev.Type)
	}
	return types
}

func TestChargeApprovedCards(t *testing.T) {
	for _, tc := range []struct {
		number string
		brand  Brand
	}{
		{TestCardApproved, BrandVisa},
		{"5555555555554444", BrandMastercard},
		{"2223003122003222", BrandMastercard},
		{"378282246310005", BrandAmex},
		{"6011111111111117", BrandDiscover},
		{"3566002020360505", BrandUnknown}, // JCB: Luhn-valid, approved, brand not tracked
	} {
		t.Run(tc.number, func(t *testing.T) {
			f := newSvcFixture(t, newMemoryStore())
			req := chargeReq(tc.number)
			p, err := f.svc.Charge(context.Background(), req)
			if err != nil {
				t.Fatalf("Charge: %v", err)
			}
			want := Payment{
				ID: p.ID, OrderID: req.OrderID, UserID: req.UserID, AmountCents: 2500, Currency: "EUR",
				Status: StatusCaptured, CardBrand: tc.brand, CardLast4: tc.number[len(tc.number)-4:],
				IdempotencyKey: req.IdempotencyKey, CreatedAt: testNow, UpdatedAt: testNow,
			}
			if p != want || uuid.Validate(p.ID) != nil {
				t.Fatalf("Charge = %+v, want %+v", p, want)
			}
			if got := f.events(t, p.ID); fmt.Sprint(got) != "[ATTEMPTED CHARGED]" {
				t.Fatalf("events %v, want [ATTEMPTED CHARGED]", got)
			}
		})
	}
}

func TestChargeDeclines(t *testing.T) {
	for _, tc := range []struct {
		number, reason, code string
		sentinel             error
	}{
		{TestCardDeclined, client.ReasonCardDeclined, CodeCardDeclined, ErrCardDeclined},
		{TestCardInsufficientFunds, client.ReasonInsufficientFunds, CodeInsufficientFunds, ErrInsufficientFunds},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			f := newSvcFixture(t, newMemoryStore())
			req := chargeReq(tc.number)
			_, err := f.svc.Charge(context.Background(), req)
			e := kittest.WantErr(t, err, errs.FailedPrecondition, tc.reason)
			if !errors.Is(err, tc.sentinel) || e.HTTPStatus() != http.StatusPaymentRequired {
				t.Fatalf("error %v: want %v with HTTP 402, got %d", err, tc.sentinel, e.HTTPStatus())
			}
			id := e.MetaString("payment_id")
			if e.MetaString("decline_code") != tc.code {
				t.Fatalf("decline_code meta %q, want %q", e.MetaString("decline_code"), tc.code)
			}
			p, err := f.store.Payment(context.Background(), id)
			if err != nil || p.Status != StatusDeclined || p.DeclineCode != tc.code || p.OrderID != req.OrderID {
				t.Fatalf("recorded payment %+v, %v; want DECLINED %s", p, err, tc.code)
			}
			// A replay reports the same decline without asking the processor.
			_, err2 := f.svc.Charge(context.Background(), req)
			e2 := kittest.WantErr(t, err2, errs.FailedPrecondition, tc.reason)
			if e2.MetaString("payment_id") != id || e2.HTTPStatus() != http.StatusPaymentRequired {
				t.Fatalf("replay error %+v, want the first decline (payment %s)", e2, id)
			}
			if n := f.proc.calls.Load(); n != 1 {
				t.Fatalf("processor called %d times, want 1", n)
			}
			if got := f.events(t, id); fmt.Sprint(got) != "[ATTEMPTED DECLINED]" {
				t.Fatalf("events %v, want [ATTEMPTED DECLINED]", got)
			}
		})
	}
}

func TestChargeProcessingErrorIsRecordedAndRetried(t *testing.T) {
	f := newSvcFixture(t, newMemoryStore())
	req := chargeReq(TestCardProcessingError)
	_, err := f.svc.Charge(context.Background(), req)
	e := kittest.WantErr(t, err, errs.Unavailable, client.ReasonProcessingError)
	if errs.IsInfrastructure(err) {
		t.Fatal("a processing error is the processor's verdict on one charge, not a sick service: breakers must not count it")
	}
	id := e.MetaString("payment_id")
	p, err := f.store.Payment(context.Background(), id)
	if err != nil || p.Status != StatusFailed || p.DeclineCode != CodeProcessingError {
		t.Fatalf("recorded payment %+v, %v; want FAILED processing_error", p, err)
	}
	// The caller's retry asks the processor again, on the same payment.
	_, err = f.svc.Charge(context.Background(), req)
	if e := kittest.WantErr(t, err, errs.Unavailable, client.ReasonProcessingError); e.MetaString("payment_id") != id {
		t.Fatalf("retry reported payment %s, want %s", e.MetaString("payment_id"), id)
	}
	if n := f.proc.calls.Load(); n != 2 {
		t.Fatalf("processor called %d times, want 2", n)
	}
	if got := f.events(t, id); fmt.Sprint(got) != "[ATTEMPTED FAILED ATTEMPTED FAILED]" {
		t.Fatalf("events %v, want [ATTEMPTED FAILED ATTEMPTED FAILED]", got)
	}
}

// flakyProcessor fails its first n charges, then behaves as the simulated
// processor.
type flakyProcessor struct {
	*SimulatedProcessor
	fails atomic.Int32
}

func (p *flakyProcessor) Charge(ctx context.Context, key string, card Card, amount int64, currency string) (Decision, error) {
	if p.fails.Add(-1) >= 0 {
		return Decision{Outcome: Failed, Code: CodeProcessingError}, nil
	}
	return p.SimulatedProcessor.Charge(ctx, key, card, amount, currency)
}

func TestChargeRetryAfterFailureCaptures(t *testing.T) {
	store := newMemoryStore()
	proc := &flakyProcessor{SimulatedProcessor: NewSimulatedProcessor()}
	proc.fails.Store(1)
	var later atomic.Pointer[time.Time]
	later.Store(&testNow)
	svc := NewService(store, nil, Options{Processor: proc, Now: func() time.Time { return *later.Load() }})
	req := chargeReq(TestCardApproved)
	_, err := svc.Charge(context.Background(), req)
	id := kittest.WantErr(t, err, errs.Unavailable, client.ReasonProcessingError).MetaString("payment_id")
	second := testNow.Add(time.Second)
	later.Store(&second)
	p, err := svc.Charge(context.Background(), req)
	if err != nil || p.ID != id || p.Status != StatusCaptured || p.DeclineCode != "" ||
		!p.CreatedAt.Equal(testNow) || !p.UpdatedAt.Equal(second) {
		t.Fatalf("retry = %+v, %v; want payment %s CAPTURED, created at the first attempt", p, err, id)
	}
	// Captured now: a further repeat is a replay.
	if p2, err := svc.Charge(context.Background(), req); err != nil || p2 != p {
		t.Fatalf("replay = %+v, %v; want %+v", p2, err, p)
	}
	evs, _ := store.Events(context.Background(), id)
	if len(evs) != 4 || evs[1].Type != EventFailed || evs[2].Type != EventAttempted || evs[3].Type != EventCharged {
		t.Fatalf("events %+v, want ATTEMPTED FAILED ATTEMPTED CHARGED", evs)
	}
}

// downProcessor cannot be reached at all.
type downProcessor struct{}

var errProcessorDown = errors.New("dial tcp 10.0.0.1:443: connection refused")

func (downProcessor) Charge(context.Context, string, Card, int64, string) (Decision, error) {
	return Decision{}, errProcessorDown
}

func (downProcessor) Lookup(context.Context, string) (Decision, bool, error) {
	return Decision{}, false, errProcessorDown
}

func TestChargeProcessorUnreachableStaysPending(t *testing.T) {
	store := newMemoryStore()
	svc := NewService(store, nil, Options{Processor: downProcessor{}, Now: func() time.Time { return testNow }})
	req := chargeReq(TestCardApproved)
	_, err := svc.Charge(context.Background(), req)
	e := kittest.WantErr(t, err, errs.Unavailable, client.ReasonProcessingError)
	if e.Message != "payment processor unreachable, retry later" {
		t.Fatalf("message %q leaks the cause", e.Message)
	}
	// The attempt is on record, its outcome unknown: PENDING.
	p, err := store.ChargeByKey(context.Background(), req.IdempotencyKey)
	if err != nil || p.Status != StatusPending || p.ID != e.MetaString(client.MetaPaymentID) {
		t.Fatalf("recorded %+v, %v; want the PENDING attempt %s", p, err, e.MetaString(client.MetaPaymentID))
	}
	// A repeat once the processor is back settles the same payment.
	f := newSvcFixture(t, store)
	if got, err := f.svc.Charge(context.Background(), req); err != nil || got.Status != StatusCaptured || got.ID != p.ID {
		t.Fatalf("Charge after outage = %+v, %v; want payment %s CAPTURED", got, err, p.ID)
	}
	if got := f.events(t, p.ID); fmt.Sprint(got) != "[ATTEMPTED CHARGED]" {
		t.Fatalf("events %v, want [ATTEMPTED CHARGED]", got)
	}
}

func TestChargeValidation(t *testing.T) {
	f := newSvcFixture(t, newMemoryStore())
	mod := func(m func(*ChargeRequest)) ChargeRequest {
		r := chargeReq(TestCardApproved)
		m(&r)
		return r
	}
	for _, tc := range []struct {
		name   string
		req    ChargeRequest
		fields []string
	}{
		{"luhn", mod(func(r *ChargeRequest) { r.Card.Number = "4242424242424241" }), []string{"card.number"}},
		{"letters", mod(func(r *ChargeRequest) { r.Card.Number = "4242-4242-4242-4242" }), []string{"card.number"}},
		{"too short", mod(func(r *ChargeRequest) { r.Card.Number = "42424242" }), []string{"card.number"}},
		{"empty card", mod(func(r *ChargeRequest) { r.Card = Card{} }),
			[]string{"card.number", "card.exp_month", "card.exp_year", "card.cvc"}},
		{"expired last month", mod(func(r *ChargeRequest) { r.Card.ExpYear, r.Card.ExpMonth = 2030, 4 }), []string{"card.exp_month"}},
		{"expired last year", mod(func(r *ChargeRequest) { r.Card.ExpYear, r.Card.ExpMonth = 2029, 12 }), []string{"card.exp_year"}},
		{"month 13", mod(func(r *ChargeRequest) { r.Card.ExpMonth = 13 }), []string{"card.exp_month"}},
		{"two-digit year", mod(func(r *ChargeRequest) { r.Card.ExpYear = 31 }), []string{"card.exp_year"}},
		{"far future", mod(func(r *ChargeRequest) { r.Card.ExpYear = 2099 }), []string{"card.exp_year"}},
		{"cvc short", mod(func(r *ChargeRequest) { r.Card.CVC = "12" }), []string{"card.cvc"}},
		{"cvc long", mod(func(r *ChargeRequest) { r.Card.CVC = "12345" }), []string{"card.cvc"}},
		{"cvc letters", mod(func(r *ChargeRequest) { r.Card.CVC = "12a" }), []string{"card.cvc"}},
		{"amount", mod(func(r *ChargeRequest) { r.AmountCents = 0 }), []string{"amount_cents"}},
		{"negative amount", mod(func(r *ChargeRequest) { r.AmountCents = -5 }), []string{"amount_cents"}},
		{"currency case", mod(func(r *ChargeRequest) { r.Currency = "usd" }), []string{"currency"}},
		{"currency length", mod(func(r *ChargeRequest) { r.Currency = "EURO" }), []string{"currency"}},
		{"no such currency", mod(func(r *ChargeRequest) { r.Currency = "ABC" }), []string{"currency"}},
		{"amount above the cap", mod(func(r *ChargeRequest) { r.AmountCents = valid.MaxAmountCents + 1 }), []string{"amount_cents"}},
		{"key too long", mod(func(r *ChargeRequest) { r.IdempotencyKey = strings.Repeat("k", valid.MaxIdempotencyKey+1) }),
			[]string{"idempotency_key"}},
		{"key with a space", mod(func(r *ChargeRequest) { r.IdempotencyKey = "a b" }), []string{"idempotency_key"}},
		{"uuid in braces", mod(func(r *ChargeRequest) { r.OrderID = "{" + uuid.NewString() + "}" }), []string{"order_id"}},
		{"ids and key", mod(func(r *ChargeRequest) { r.OrderID, r.UserID, r.IdempotencyKey = "o-1", "", "" }),
			[]string{"order_id", "user_id", "idempotency_key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.Charge(context.Background(), tc.req)
			wantFields(t, err, tc.fields...)
			if n := f.proc.calls.Load(); n != 0 {
				t.Fatalf("processor called %d times for an invalid request", n)
			}
		})
	}
	// A card expiring this month is still good.
	ok := mod(func(r *ChargeRequest) { r.Card.ExpYear, r.Card.ExpMonth, r.Card.CVC = 2030, 5, "1234" })
	if _, err := f.svc.Charge(context.Background(), ok); err != nil {
		t.Fatalf("card expiring this month: %v", err)
	}
	// The largest amount and the longest key are accepted.
	edge := mod(func(r *ChargeRequest) {
		r.AmountCents, r.IdempotencyKey = valid.MaxAmountCents, strings.Repeat("k", valid.MaxIdempotencyKey)
	})
	if _, err := f.svc.Charge(context.Background(), edge); err != nil {
		t.Fatalf("largest amount, longest key: %v", err)
	}
}

func TestChargeReplayAndKeyReuse(t *testing.T) {
	f := newSvcFixture(t, newMemoryStore())
	ctx := context.Background()
	req := chargeReq(TestCardApproved)
	first, err := f.svc.Charge(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.svc.Charge(ctx, req)
	if err != nil || again != first {
		t.Fatalf("replay = %+v, %v; want %+v", again, err, first)
	}
	for name, m := range map[string]func(*ChargeRequest){
		"amount":   func(r *ChargeRequest) { r.AmountCents++ },
		"currency": func(r *ChargeRequest) { r.Currency = "USD" },
		"order":    func(r *ChargeRequest) { r.OrderID = uuid.NewString() },
		"user":     func(r *ChargeRequest) { r.UserID = uuid.NewString() },
		"card":     func(r *ChargeRequest) { r.Card = card("5555555555554444") },
	} {
		t.Run(name, func(t *testing.T) {
			r := req
			m(&r)
			_, err := f.svc.Charge(ctx, r)
			if e := kittest.WantErr(t, err, errs.FailedPrecondition, errs.ReasonIdempotencyKeyReused); e.MetaString("payment_id") != first.ID {
				t.Fatalf("meta %v, want payment_id %s", e.Meta, first.ID)
			}
		})
	}
	if n := f.proc.calls.Load(); n != 1 {
		t.Fatalf("processor called %d times, want 1", n)
	}
	if got := f.events(t, first.ID); len(got) != 2 {
		t.Fatalf("events %v, want one attempt and its outcome", got)
	}
}

// TestConcurrentIdenticalCharges races identical charges: exactly one
// payment, one CHARGED event, one processor call, and every caller gets
// that payment.
func TestConcurrentIdenticalCharges(t *testing.T) {
	for _, sf := range storeFactories {
		t.Run(sf.name, func(t *testing.T) {
			f := newSvcFixture(t, sf.new(t))
			req := chargeReq(TestCardApproved)
			const n = 20
			results := make([]Payment, n)
			errsc := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					results[i], errsc[i] = f.svc.Charge(context.Background(), req)
				}()
			}
			close(start)
			wg.Wait()
			for i := range n {
				if errsc[i] != nil {
					t.Fatalf("caller %d: %v", i, errsc[i])
				}
				if results[i] != results[0] {
					t.Fatalf("caller %d got %+v, caller 0 %+v", i, results[i], results[0])
				}
			}
			if got := f.events(t, results[0].ID); fmt.Sprint(got) != "[ATTEMPTED CHARGED]" {
				t.Fatalf("events %v, want one attempt, one CHARGED", got)
			}
			// Callers that met the PENDING attempt asked the processor too,
			// under the same key: it charged once.
			if n := f.proc.approved(t); n != 1 {
				t.Fatalf("processor charged %d times, want 1", n)
			}
		})
	}
}

// TestConcurrentDeclinedCharges: racing callers of a declined charge all
// get the same decline of the same payment.
func TestConcurrentDeclinedCharges(t *testing.T) {
	for _, sf := range storeFactories {
		t.Run(sf.name, func(t *testing.T) {
			f := newSvcFixture(t, sf.new(t))
			req := chargeReq(TestCardDeclined)
			const n = 10
			ids := make(chan string, n)
			var wg sync.WaitGroup
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := f.svc.Charge(context.Background(), req)
					ids <- errs.As(err).MetaString("payment_id")
					if errs.ReasonOf(err) != client.ReasonCardDeclined {
						t.Errorf("Charge error %v, want CARD_DECLINED", err)
					}
				}()
			}
			wg.Wait()
			close(ids)
			first := <-ids
			for id := range ids {
				if id != first || id == "" {
					t.Fatalf("payment ids differ: %q vs %q", id, first)
				}
			}
			if got := f.events(t, first); fmt.Sprint(got) != "[ATTEMPTED DECLINED]" {
				t.Fatalf("events %v, want one attempt, one DECLINED", got)
			}
		})
	}
}

func asUser(id, role string) context.Context {
	c := auth.Claims{Role: role}
	c.Subject = id
	return auth.WithClaims(context.Background(), c)
}

func TestGetPaymentAccess(t *testing.T) {
	f := newSvcFixture(t, newMemoryStore())
	req := chargeReq(TestCardApproved)
	p, err := f.svc.Charge(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for _, ctx := range []context.Context{asUser(req.UserID, auth.RoleCustomer), asUser(uuid.NewString(), auth.RoleAdmin)} {
		if got, err := f.svc.GetPayment(ctx, p.ID); err != nil || got != p {
			t.Fatalf("GetPayment = %+v, %v; want %+v", got, err, p)
		}
	}
	// Another customer learns nothing: same answer as for an unknown id.
	_, err = f.svc.GetPayment(asUser(uuid.NewString(), auth.RoleCustomer), p.ID)
	kittest.WantErr(t, err, errs.NotFound, errs.ReasonNotFound)
	_, err = f.svc.GetPayment(asUser(req.UserID, auth.RoleCustomer), uuid.NewString())
	kittest.WantErr(t, err, errs.NotFound, errs.ReasonNotFound)
	_, err = f.svc.GetPayment(context.Background(), p.ID)
	kittest.WantErr(t, err, errs.Unauthenticated, errs.ReasonUnauth)
	_, err = f.svc.GetPayment(asUser(req.UserID, auth.RoleCustomer), "not-a-uuid")
	wantFields(t, err, "id")
}

// Processing errors are marked Expected: they say nothing about the
// payments service, so no caller's breaker may count them (an open breaker
// would refuse good cards too), and payments keeps serving after them.
func TestProcessingErrorsDoNotCountAgainstPayments(t *testing.T) {
	f := newSvcFixture(t, newMemoryStore())
	chain := mw.Chain{Service: "payments"}
	charge := typed.Func[ChargeRequest, Payment](MakeEndpoints(f.svc, chain).Charge)
	for i := 0; i < 5; i++ {
		_, err := charge(context.Background(), chargeReq(TestCardProcessingError))
		kittest.WantErr(t, err, errs.Unavailable, client.ReasonProcessingError)
		if errs.IsInfrastructure(err) {
			t.Fatalf("a processing error would count against payments: %v", err)
		}
	}
	if _, err := charge(context.Background(), chargeReq(TestCardApproved)); err != nil {
		t.Fatalf("a good card after processing errors: %v", err)
	}
}
