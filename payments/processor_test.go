package main

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	kitcard "github.com/kitshop/kitshop/kit/card"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
)

func TestSimulatedProcessorVerdicts(t *testing.T) {
	p := NewSimulatedProcessor()
	for _, tc := range []struct {
		number string
		want   Decision
	}{
		{TestCardApproved, Decision{Outcome: Approved}},
		{TestCardDeclined, Decision{Outcome: Declined, Code: CodeCardDeclined}},
		{TestCardInsufficientFunds, Decision{Outcome: Declined, Code: CodeInsufficientFunds}},
		{TestCardProcessingError, Decision{Outcome: Failed, Code: CodeProcessingError}},
		{"5555555555554444", Decision{Outcome: Approved}},
	} {
		if !kitcard.LuhnValid(tc.number) {
			t.Errorf("%s: test card fails the Luhn check", tc.number)
		}
		got, err := p.Charge(context.Background(), "k-"+tc.number, card(tc.number), 100, "USD")
		if err != nil || got != tc.want {
			t.Errorf("%s: Charge = %+v, %v; want %+v", tc.number, got, err, tc.want)
		}
	}
}

// processorFactories are both ledgers of the simulated processor; it
// models an external system, so both must keep its promises.
var processorFactories = []struct {
	name string
	new  func(t *testing.T) *SimulatedProcessor
}{
	{"memory", func(*testing.T) *SimulatedProcessor { return NewSimulatedProcessor() }},
	{"postgres", openTestProcessor},
}

func openTestProcessor(t *testing.T) *SimulatedProcessor {
	t.Helper()
	return openTestProcessorAt(t, pgtest.URL(t))
}

func openTestProcessorAt(t *testing.T, dsn string) *SimulatedProcessor {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := OpenSimulatedProcessor(ctx, dsn)
	if err != nil {
		t.Fatalf("OpenSimulatedProcessor: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// TestSimulatedProcessorIsIdempotent: the first final decision under a key
// is the answer for ever, racing or not; failures are not kept; Lookup
// tells what was decided.
func TestSimulatedProcessorIsIdempotent(t *testing.T) {
	for _, pf := range processorFactories {
		t.Run(pf.name, func(t *testing.T) {
			p := pf.new(t)
			ctx := context.Background()
			if _, ok, err := p.Lookup(ctx, "k1"); ok || err != nil {
				t.Fatalf("Lookup(unknown) = %v, %v; want none", ok, err)
			}
			const n = 10
			var wg sync.WaitGroup
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if d, err := p.Charge(ctx, "k1", card(TestCardApproved), 500, "EUR"); err != nil || d.Outcome != Approved {
						t.Errorf("Charge = %+v, %v; want approved", d, err)
					}
				}()
			}
			wg.Wait()
			if d, ok, err := p.Lookup(ctx, "k1"); !ok || err != nil || d.Outcome != Approved {
				t.Fatalf("Lookup = %+v, %v, %v; want approved", d, ok, err)
			}
			// A decline is kept too; a failure is not.
			if d, _ := p.Charge(ctx, "k2", card(TestCardDeclined), 500, "EUR"); d.Outcome != Declined {
				t.Fatalf("decline = %+v", d)
			}
			if d, ok, _ := p.Lookup(ctx, "k2"); !ok || d.Code != CodeCardDeclined {
				t.Fatalf("Lookup(declined) = %+v, %v", d, ok)
			}
			if d, _ := p.Charge(ctx, "k3", card(TestCardProcessingError), 500, "EUR"); d.Outcome != Failed {
				t.Fatalf("processing error = %+v", d)
			}
			if _, ok, _ := p.Lookup(ctx, "k3"); ok {
				t.Fatal("a failed attempt was remembered: nothing moved, so a retry must decide afresh")
			}
			// The key reused for another charge is refused, not charged.
			for _, c := range []struct {
				card     Card
				amount   int64
				currency string
			}{{card(TestCardApproved), 501, "EUR"}, {card(TestCardApproved), 500, "USD"}, {card("5555555555554444"), 500, "EUR"}} {
				if _, err := p.Charge(ctx, "k1", c.card, c.amount, c.currency); !errors.Is(err, errProcessorKeyReused) {
					t.Fatalf("key reused for %+v: %v, want errProcessorKeyReused", c, err)
				}
			}
			charges, err := p.Charges(ctx)
			if err != nil || len(charges) != 2 || charges[0].Key != "k1" || charges[0].CardLast4 != "4242" ||
				charges[0].AmountCents != 500 || charges[1].Key != "k2" {
				t.Fatalf("Charges = %+v, %v; want k1 approved once, then k2", charges, err)
			}
		})
	}
}

// TestSimulatedProcessorOutlivesItsClient: the Postgres ledger is the
// processor's own durable state; a new client over the same database
// (payments restarted) sees what an old one charged.
func TestSimulatedProcessorOutlivesItsClient(t *testing.T) {
	dsn := pgtest.URL(t)
	first := openTestProcessorAt(t, dsn)
	if _, err := first.Charge(context.Background(), "k1", card(TestCardApproved), 500, "EUR"); err != nil {
		t.Fatal(err)
	}
	_ = first.Close()
	second := openTestProcessorAt(t, dsn)
	if d, ok, err := second.Lookup(context.Background(), "k1"); !ok || err != nil || d.Outcome != Approved {
		t.Fatalf("Lookup after reopening = %+v, %v, %v; want approved", d, ok, err)
	}
}
