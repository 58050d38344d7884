package sd

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitshop/kitshop/kit/errs"
)

// RolloutPrefix is the etcd key space of version splits: the key
// RolloutKey(service) holds one Rollout as JSON. Without it a service's
// traffic goes to all its instances, whatever their version.
const RolloutPrefix = "/kitshop/rollouts/"

// RolloutKey is the key of service's rollout.
func RolloutKey(service string) string { return RolloutPrefix + service }

// Rollout states.
const (
	StateSwitched   = "switched"    // blue-green: one version has everything
	StateCanary     = "canary"      // a canary is being stepped up
	StatePromoted   = "promoted"    // the canary reached 100% and is the stable version
	StateRolledBack = "rolled_back" // the canary was worse and is back to 0%
)

// Rollout is how one service's traffic is split between its versions. It
// is the contract between the callers (every kit/sd Backend applies
// Weights), the rollout tools that write it (ops/rollout switch and
// canary) and whoever shows it (the operator console).
type Rollout struct {
	Service string `json:"service"`
	// Weights are integer percents per version summing to 100. A version
	// absent or at 0 gets no traffic while any weighted version has a
	// live instance.
	Weights map[string]int `json:"weights"`
	// Stable is the version known good: retries prefer it.
	Stable string `json:"stable,omitempty"`
	// Canary is the version being introduced, if any.
	Canary string `json:"canary,omitempty"`
	// Step changes whenever Weights do. A client's version is a hash of
	// its key and Step, so a client stays on one version for a step.
	Step  int    `json:"step"`
	State string `json:"state,omitempty"`
	// Decisions is the controller's log, oldest first, so that a second
	// controller or a restarted one resumes instead of repeating.
	Decisions []Decision `json:"decisions,omitempty"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// Decision is one judgement of a rollout controller.
type Decision struct {
	At    time.Time `json:"at"`
	Step  int       `json:"step"`
	Share int       `json:"share"` // the canary's percent when judged
	// Action: "start", "hold", "advance", "promote", "rollback", "switch".
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
	// What was compared (absent for a switch).
	CanaryRequests  float64 `json:"canary_requests,omitempty"`
	StableRequests  float64 `json:"stable_requests,omitempty"`
	CanaryErrorRate float64 `json:"canary_error_rate,omitempty"`
	StableErrorRate float64 `json:"stable_error_rate,omitempty"`
	CanaryP99       float64 `json:"canary_p99_seconds,omitempty"`
	StableP99       float64 `json:"stable_p99_seconds,omitempty"`
}

// Validate checks what a caller needs to route by r.
func (r Rollout) Validate() error {
	var v []errs.FieldViolation
	if err := validateSegment("service", r.Service); err != nil {
		v = append(v, errs.FieldViolation{Field: "service", Message: "must be a service name"})
	}
	sum := 0
	for version, w := range r.Weights {
		if version == "" {
			v = append(v, errs.FieldViolation{Field: "weights", Message: "a version must not be empty"})
		}
		if w < 0 || w > 100 {
			v = append(v, errs.FieldViolation{Field: "weights." + version, Message: "must be between 0 and 100"})
		}
		sum += w
	}
	if sum != 100 {
		v = append(v, errs.FieldViolation{Field: "weights", Message: fmt.Sprintf("must sum to 100, not %d", sum)})
	}
	if len(v) > 0 {
		return errs.Invalid(v...)
	}
	return nil
}

// DecodeRollout parses and validates a stored rollout.
func DecodeRollout(value []byte) (Rollout, error) {
	var r Rollout
	if err := json.Unmarshal(value, &r); err != nil {
		return Rollout{}, errs.Wrap(errs.InvalidArgument, errs.ReasonValidation, err, "malformed rollout JSON")
	}
	return r, r.Validate()
}

// Versions are r's versions with a weight, heaviest first (ties by name).
func (r Rollout) Versions() []string {
	var out []string
	for v, w := range r.Weights {
		if w > 0 {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if r.Weights[out[i]] != r.Weights[out[j]] {
			return r.Weights[out[i]] > r.Weights[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}

// GetRollout reads service's rollout and its etcd revision (for
// PutRollout's compare-and-swap). found is false when there is none.
func GetRollout(ctx context.Context, c *clientv3.Client, service string) (r Rollout, rev int64, found bool, err error) {
	if err := validateSegment("service", service); err != nil {
		return Rollout{}, 0, false, err
	}
	resp, err := c.Get(ctx, RolloutKey(service))
	if err != nil {
		return Rollout{}, 0, false, registryError(ctx, err)
	}
	if len(resp.Kvs) == 0 {
		return Rollout{}, 0, false, nil
	}
	r, err = DecodeRollout(resp.Kvs[0].Value)
	return r, resp.Kvs[0].ModRevision, true, err
}

// ReasonRolloutConflict: the rollout changed since it was read.
const ReasonRolloutConflict = "ROLLOUT_CONFLICT"

// PutRollout stores r if the key is still at revision rev (0: if it does
// not exist), so that two controllers never overwrite each other's
// decisions; a lost race is FailedPrecondition/ROLLOUT_CONFLICT, and the
// loser reads again.
func PutRollout(ctx context.Context, c *clientv3.Client, r Rollout, rev int64) error {
	if err := r.Validate(); err != nil {
		return err
	}
	value, err := json.Marshal(r)
	if err != nil {
		return errs.Internalf(err, "sd: encode rollout")
	}
	key := RolloutKey(r.Service)
	resp, err := c.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpPut(key, string(value))).Commit()
	if err != nil {
		return registryError(ctx, err)
	}
	if !resp.Succeeded {
		return errs.New(errs.FailedPrecondition, ReasonRolloutConflict, "the rollout of "+r.Service+" changed meanwhile")
	}
	return nil
}
