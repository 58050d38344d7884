package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/saga"
	"github.com/kitshop/kitshop/orders/client"
)

// TestSagaStepListsMatchTheDefinitions: the steps whose duration series
// are made at start-up are the definitions' own, so a renamed or added
// step cannot leave a dashboard on a series that never moves.
func TestSagaStepListsMatchTheDefinitions(t *testing.T) {
	s := newWorld(t).service("a")
	for _, def := range []*saga.Definition{s.checkout, s.cancel} {
		var steps, compensable []string
		for _, st := range def.Steps {
			steps = append(steps, st.Name)
			if st.Compensate != nil {
				compensable = append(compensable, st.Name)
			}
		}
		if !slices.Equal(sagaSteps[def.Name], steps) {
			t.Errorf("%s: sagaSteps %v, definition %v", def.Name, sagaSteps[def.Name], steps)
		}
		if !slices.Equal(compensableSteps[def.Name], compensable) {
			t.Errorf("%s: compensableSteps %v, definition %v", def.Name, compensableSteps[def.Name], compensable)
		}
	}
}

// TestStepDurations: every step's series exists (at 0) from the start,
// and stepEnded records forward steps and compensations apart, by
// outcome.
func TestStepDurations(t *testing.T) {
	w := newWorld(t)
	s := w.service("a")
	if n := testutil.CollectAndCount(s.metrics.steps); n != 6 {
		t.Fatalf("%d step series at start, want 6 (4 checkout + 2 cancel steps)", n)
	}
	if n := testutil.CollectAndCount(s.metrics.compensation); n != 2 {
		t.Fatalf("%d compensation series at start, want 2 (reserve, charge)", n)
	}
	s.metrics.stepEnded(checkoutName, stepCharge, false, outcomeParked, 3*time.Second)
	s.metrics.stepEnded(checkoutName, stepCharge, false, outcomeOK, 250*time.Millisecond)
	s.metrics.stepEnded(checkoutName, stepCharge, true, outcomeFailed, 2*time.Second)
	var got []string
	mfs, err := w.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if h := m.GetHistogram(); h != nil && h.GetSampleCount() > 0 {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				got = append(got, fmt.Sprintf("%s %s/%s/%s %d %v", mf.GetName(), labels["definition"], labels["step"], labels["outcome"], h.GetSampleCount(), h.GetSampleSum()))
			}
		}
	}
	slices.Sort(got)
	wantLines := []string{
		"kitshop_saga_compensation_duration_seconds checkout.v1/charge/failed 1 2",
		"kitshop_saga_step_duration_seconds checkout.v1/charge/ok 1 0.25",
		"kitshop_saga_step_duration_seconds checkout.v1/charge/parked 1 3",
	}
	if !slices.Equal(got, wantLines) {
		t.Fatalf("observed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantLines, "\n"))
	}
}

// TestOrdersPlacedAndRequiringAttention: each checkout is counted once
// by its order's final status and failure reason when that is saved,
// and the attention gauge reads the orders REQUIRES_ATTENTION from the
// store.
func TestOrdersPlacedAndRequiringAttention(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		store, err := withOrderMetrics(w.store, w.reg, nil)
		if err != nil {
			t.Fatal(err)
		}
		w.store = store
		s := w.service("a")
		placed := func(status Status, reason string) float64 {
			n, err := testutil.GatherAndCount(w.reg, "kitshop_orders_placed_total")
			if err != nil || n == 0 {
				t.Fatalf("kitshop_orders_placed_total: %d series, %v", n, err)
			}
			return testutil.ToFloat64(store.(orderMetricsStore).placed.WithLabelValues(string(status), reason))
		}
		attention := func() string {
			mfs, err := w.reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, mf := range mfs {
				if mf.GetName() == "kitshop_orders_requiring_attention" {
					return fmt.Sprint(mf.GetMetric()[0].GetGauge().GetValue())
				}
			}
			return "absent"
		}
		if got := placed(StatusConfirmed, ""); got != 0 {
			t.Fatalf("confirmed before any order: %v", got)
		}
		if got := attention(); got != "0" {
			t.Fatalf("attention gauge %q before any order, want 0", got)
		}

		mug := w.products.add("mug", 1000, "USD", 5)
		for range 2 {
			if _, err := s.PlaceOrder(w.ctx(), order(cardOK, mug, 1)); err != nil {
				t.Fatal(err)
			}
		}
		_, _ = s.PlaceOrder(w.ctx(), order(cardDeclined, mug, 1))
		_, _ = s.PlaceOrder(w.ctx(), order(cardOK, mug, 50))
		w.peers.setHook(failing("ReleaseReservation", errs.New(errs.Unavailable, errs.ReasonUnavailable, "products down")))
		_, err = s.PlaceOrder(w.ctx(), order(cardDeclined, mug, 1))
		failedOrder(t, err, ErrRequiresAttention)

		for _, c := range []struct {
			status Status
			reason string
			want   float64
		}{
			{StatusConfirmed, "", 2},
			{StatusCancelled, client.ReasonPaymentDeclined, 1},
			{StatusCancelled, client.ReasonInsufficientStock, 1},
			{StatusRequiresAttention, client.ReasonPaymentDeclined, 1},
		} {
			if got := placed(c.status, c.reason); got != c.want {
				t.Errorf("placed{%s,%q} = %v, want %v", c.status, c.reason, got, c.want)
			}
		}
		// The saga wiring records each step's and compensation's time.
		steps := map[string]uint64{}
		mfs, err := w.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "kitshop_saga_step_duration_seconds" && mf.GetName() != "kitshop_saga_compensation_duration_seconds" {
				continue
			}
			for _, m := range mf.GetMetric() {
				key := mf.GetName()
				for _, l := range m.GetLabel() {
					key += " " + l.GetValue()
				}
				steps[key] = m.GetHistogram().GetSampleCount()
			}
		}
		// Labels in name order: definition, outcome, step. Two orders
		// committed; two declined charges were refunded (a no-op);
		// reserve was undone after the first decline and the stock-out,
		// and releasing failed after the second decline.
		for key, want := range map[string]uint64{
			"kitshop_saga_step_duration_seconds " + checkoutName + " ok commit":              2,
			"kitshop_saga_step_duration_seconds " + checkoutName + " failed charge":          2,
			"kitshop_saga_step_duration_seconds " + checkoutName + " failed reserve":         1,
			"kitshop_saga_compensation_duration_seconds " + checkoutName + " ok charge":      2,
			"kitshop_saga_compensation_duration_seconds " + checkoutName + " ok reserve":     2,
			"kitshop_saga_compensation_duration_seconds " + checkoutName + " failed reserve": 1,
		} {
			if steps[key] != want {
				t.Errorf("%s: %d observations, want %d (all: %v)", key, steps[key], want, steps)
			}
		}
		if n, _ := testutil.GatherAndCount(w.reg, "kitshop_orders_placed_total"); n != 4 {
			t.Errorf("%d placed series, want the 4 above", n)
		}
		if got := attention(); got != "1" {
			t.Errorf("attention gauge %q, want 1", got)
		}
	})
}
