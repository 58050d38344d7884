package main

import (
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/openzipkin/zipkin-go"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/saga"
	"github.com/kitshop/kitshop/kit/tracing"
)

// A checkout's saga is in the trace of the request that placed it: the
// saga's drive under the request's span, a span per step and per
// compensation with its outcome, and every transition logged at info
// with the order's id and the trace's id.
func TestCheckoutSagaIsTracedAndLogged(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		tracer, rec := kittest.NewTracer(t, "orders")
		var logs kittest.LogBuffer
		s := w.service("a", func(o *Options) { o.Tracer, o.Logger = tracer, log.NewJSONLogger(&logs) })
		mug := w.products.add("mug", 1000, "USD", 10)

		req, ctx := tracer.StartSpanFromContext(w.ctx(), "orders.v1.ordersservice.createorder", zipkin.Kind("SERVER"))
		_, err := s.PlaceOrder(ctx, order(cardDeclined, mug, 1))
		req.Finish()
		if err == nil {
			t.Fatal("a declined card placed the order")
		}
		trace := tracing.TraceID(ctx)
		var orderID string
		for _, l := range logs.Lines(t) {
			if l["msg"] == "saga finished" {
				orderID, _ = l["order_id"].(string)
			}
		}
		if orderID == "" {
			t.Fatalf("no saga finished line:\n%s", logs.String())
		}
		if got := w.waitSaga(orderID).Trace; got != tracing.Traceparent(ctx) {
			t.Errorf("persisted trace %q, want the request's %q", got, tracing.Traceparent(ctx))
		}

		outcomes := map[string]string{}
		for _, sp := range rec.Spans() {
			if sp.TraceID.String() != trace {
				t.Errorf("span %q in trace %s, want the request's %s", sp.Name, sp.TraceID, trace)
			}
			if sp.Name == "saga checkout.v1" && (sp.ParentID == nil || *sp.ParentID != req.Context().ID) {
				t.Errorf("the saga's drive has parent %v, want the request's span", sp.ParentID)
			}
			if o := sp.Tags[saga.TagOutcome]; o != "" {
				outcomes[sp.Name] = o
			}
		}
		want := map[string]string{
			"saga step validate_user": "done", "saga step reserve": "done", "saga step charge": "failed",
			"saga compensate charge": "compensated", "saga compensate reserve": "compensated",
		}
		for name, o := range want {
			if outcomes[name] != o {
				t.Errorf("span %q outcome %q, want %q (all: %v)", name, outcomes[name], o, outcomes)
			}
		}

		var msgs []string
		for _, l := range logs.Lines(t) {
			if l["saga_id"] == nil {
				continue
			}
			msgs = append(msgs, l["msg"].(string)+" "+str(l["step"]))
			if l["order_id"] != orderID || l["trace_id"] != trace || l["level"] != "info" {
				t.Errorf("transition line %v: want order %s, trace %s, at info", l, orderID, trace)
			}
		}
		wantMsgs := "saga step started validate_user|saga step done validate_user|saga step started reserve|saga step done reserve|" +
			"saga step started charge|saga step failed; compensating charge|saga compensation started charge|saga step compensated charge|" +
			"saga compensation started reserve|saga step compensated reserve|saga finished "
		if got := strings.Join(msgs, "|"); got != wantMsgs {
			t.Errorf("transitions logged\n%s\nwant\n%s", got, wantMsgs)
		}
	})
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
