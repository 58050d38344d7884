package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"

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
		if !luhnValid(tc.number) {
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

func TestLuhn(t *testing.T) {
	for number, want := range map[string]bool{
		"4242424242424242": true, "4242424242424241": false, "79927398713": true, "79927398710": false,
		"0": true, "": false, "42a2": false, "378282246310005": true,
	} {
		if got := luhnValid(number); got != want {
			t.Errorf("luhnValid(%q) = %v, want %v", number, got, want)
		}
	}
}

func TestBrand(t *testing.T) {
	for number, want := range map[string]Brand{
		"4242424242424242": BrandVisa, "4000056655665556": BrandVisa,
		"5555555555554444": BrandMastercard, "5105105105105100": BrandMastercard, "2223003122003222": BrandMastercard,
		"2720990000000007": BrandMastercard, "2721000000000004": BrandUnknown,
		"378282246310005": BrandAmex, "371449635398431": BrandAmex,
		"6011111111111117": BrandDiscover, "6500000000000002": BrandDiscover, "6445644564456445": BrandDiscover,
		"6221260000000000": BrandDiscover, "6229260000000000": BrandUnknown,
		"3566002020360505": BrandUnknown, "30569309025904": BrandUnknown, "12": BrandUnknown,
	} {
		if got := brandOf(number); got != want {
			t.Errorf("brandOf(%s) = %s, want %s", number, got, want)
		}
	}
}

// TestCardRedaction prints and serializes card data every way a log line,
// span or error could, and checks neither the number nor the CVC shows.
func TestCardRedaction(t *testing.T) {
	const number, cvc = "4000000000009995", "987"
	c := Card{Number: number, ExpMonth: 4, ExpYear: 2031, CVC: cvc}
	req := ChargeRequest{OrderID: "o", Card: c, AmountCents: 100}

	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s"} {
		for _, v := range []any{c, &c, c.Number, c.CVC, req, &req, []Card{c}, map[string]any{"card": c}} {
			outputs = append(outputs, fmt.Sprintf(verb, v))
		}
	}
	outputs = append(outputs, fmt.Sprint(c, req), fmt.Sprintln(c.Number), c.String(), c.GoString())
	for _, v := range []any{c, req, c.Number, c.CVC, map[string]any{"n": c.Number}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%T): %v", v, err)
		}
		outputs = append(outputs, string(b))
	}

	var buf bytes.Buffer
	logfmt := log.NewLogfmtLogger(&buf)
	_ = logfmt.Log("card", c, "number", c.Number, "cvc", c.CVC, "req", req)
	jsonLog := log.NewJSONLogger(&buf)
	_ = jsonLog.Log("card", c, "number", c.Number, "cvc", c.CVC, "req", req)
	sl := slog.New(slog.NewJSONHandler(&buf, nil))
	sl.Info("charge", "card", c, "number", c.Number, "cvc", c.CVC, "req", req)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("charge", "card", c, "number", c.Number, "req", req)
	outputs = append(outputs, buf.String())

	for _, out := range outputs {
		if strings.Contains(out, number) || strings.Contains(out, "000000000") || strings.Contains(out, cvc) {
			t.Errorf("card data leaked: %s", out)
		}
	}
	if got := fmt.Sprint(c); got != "visa ****9995" {
		t.Errorf("Card prints as %q, want %q", got, "visa ****9995")
	}
	if got := fmt.Sprint(CardNumber("4242")); got != "****" {
		t.Errorf("a short number prints as %q, want it fully masked", got)
	}
	if !strings.Contains(buf.String(), "9995") || !strings.Contains(buf.String(), "visa") {
		t.Errorf("logs should still show brand and last four: %s", buf.String())
	}
}
