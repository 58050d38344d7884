package card

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/go-kit/log"
)

func TestLuhn(t *testing.T) {
	for number, want := range map[string]bool{
		"4242424242424242": true, "4242424242424241": false, "79927398713": true, "79927398710": false,
		"0": true, "": false, "42a2": false, "378282246310005": true,
	} {
		if got := LuhnValid(number); got != want {
			t.Errorf("LuhnValid(%q) = %v, want %v", number, got, want)
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
		if got := BrandOf(number); got != want {
			t.Errorf("BrandOf(%s) = %s, want %s", number, got, want)
		}
	}
}

// TestCardRedaction prints and serializes card data every way a log line,
// span or error could, and checks neither the number nor the CVC shows.
func TestCardRedaction(t *testing.T) {
	const number, cvc = "4000000000009995", "987"
	c := Card{Number: number, ExpMonth: 4, ExpYear: 2031, CVC: cvc}
	// req stands for any struct that carries a card, as a request does.
	req := struct {
		OrderID     string
		Card        Card
		AmountCents int64
	}{OrderID: "o", Card: c, AmountCents: 100}

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
