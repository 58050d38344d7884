package main

import (
	"context"
	"net/http"
	"strconv"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/typed"
)

// debugSagasPath lists sagas for operators: GET
// /debug/sagas?state=active|failed|attention&limit=N (admin only,
// read-only). active (the default) are sagas not final yet, failed those
// compensated, attention those whose compensation ran out of retries (the
// orders REQUIRES_ATTENTION). limit is 1 to 500 (100 by default); newest
// first.
const debugSagasPath = "/debug/sagas"

// defaultSagasLimit is how many sagas one listing shows unless asked.
const defaultSagasLimit = 100

// sagasView is the listing's JSON: the filter applied and each saga with
// the order it works for and its persisted state, as kit/saga writes it
// (steps, their keys and attempts, failure, lease).
type sagasView struct {
	Filter SagaFilter `json:"filter"`
	Sagas  []sagaView `json:"sagas"`
}

type sagaView struct {
	OrderID string `json:"order_id"`
	Kind    string `json:"kind"`
	State   any    `json:"state"`
}

func sagasHandler(e endpoint.Endpoint) http.Handler {
	return httpx.Handler[SagasRequest, sagasView](viewSagas(e), decodeSagas, http.StatusOK)
}

// decodeSagas refuses anyone but an admin before looking at the query, so
// the endpoint tells nobody else even which filters exist.
func decodeSagas(ctx context.Context, r *http.Request) (SagasRequest, error) {
	if _, err := auth.RequireAdmin(ctx); err != nil {
		return SagasRequest{}, err
	}
	q := r.URL.Query()
	req := SagasRequest{Filter: SagasActive, Limit: defaultSagasLimit}
	var v errs.Validation
	if vals := q["state"]; len(vals) > 1 {
		v.Add("state", "must be given once")
	} else if len(vals) == 1 && vals[0] != "" {
		switch f := SagaFilter(vals[0]); f {
		case SagasActive, SagasFailed, SagasAttention:
			req.Filter = f
		default:
			v.Add("state", "must be active, failed or attention")
		}
	}
	if raw := q.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxSagas {
			v.Add("limit", "must be an integer from 1 to "+strconv.Itoa(maxSagas))
		}
		req.Limit = n
	}
	return req, v.Err()
}

// viewSagas turns the endpoint's []SagaInfo into the listing's JSON.
func viewSagas(e endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req, err := typed.Cast[SagasRequest](request)
		if err != nil {
			return nil, err
		}
		infos, err := typed.Call[SagasRequest, []SagaInfo](ctx, e, req)
		if err != nil {
			return nil, err
		}
		out := sagasView{Filter: req.Filter, Sagas: make([]sagaView, len(infos))}
		for i, s := range infos {
			out.Sagas[i] = sagaView{OrderID: s.OrderID, Kind: s.Kind, State: s.State}
		}
		return out, nil
	}
}
