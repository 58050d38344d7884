package health

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
)

// checkTimeout bounds one run of the checks, for a probe and for a
// monitor round alike: a dependency slower than this is not usable.
const checkTimeout = 2 * time.Second

// Status runs every check (bounded by ctx) and reports the overall verdict
// with each check's result: "ok", or a client-safe description of the
// failure (see Check). The declared state is reported as "lifecycle".
func (r *Readiness) Status(ctx context.Context) (bool, map[string]string) {
	declared := r.Declared()
	results := map[string]string{"lifecycle": "ok"}
	if !declared {
		results["lifecycle"] = "not serving"
	}
	ok := declared
	for _, res := range r.runChecks(ctx) {
		if res.err != nil {
			results[res.name] = clientMessage(res.err)
			ok = false
			continue
		}
		results[res.name] = "ok"
	}
	return ok, results
}

type checkResult struct {
	name string
	err  error
}

// runChecks runs the registered checks one after the other, sharing ctx's
// deadline.
func (r *Readiness) runChecks(ctx context.Context) []checkResult {
	list := r.checkList()
	results := make([]checkResult, len(list))
	for i, c := range list {
		results[i] = checkResult{name: c.name, err: c.check(ctx)}
	}
	return results
}

// clientMessage describes a failed check for a readiness body. Only a
// classified error's Message is meant for clients (kit/errs); anything
// else, like a raw dial error naming a host and port, is withheld.
func clientMessage(err error) string {
	var e *errs.Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "unavailable"
}

// LiveHandler answers 200 while the process can serve at all.
func LiveHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
}

// ReadyHandler answers 200 when ready, else 503, naming each check. It
// runs the checks live rather than reporting Monitor's last round, so a
// probe always sees the present state.
func (r *Readiness) ReadyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), checkTimeout)
		defer cancel()
		ok, checks := r.Status(ctx)
		status, text := http.StatusOK, "ok"
		if !ok {
			status, text = http.StatusServiceUnavailable, "unavailable"
		}
		writeJSON(w, status, map[string]any{"status": text, "checks": checks})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
