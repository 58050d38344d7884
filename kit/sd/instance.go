// Package sd is kitshop's service discovery on etcd: a Registrar that keeps
// a process's Instance registered under a lease (and re-registers after the
// lease is lost), an Instancer feeding go-kit's sd/lb machinery, and
// Backend, the calling side of one service: discovered instances behind
// round-robin over shared gRPC connections, with the caller's breaker,
// retry policy and retry budget (see Unary).
//
// Keys are Key(name, id) = "/kitshop/services/<name>/<id>", each holding
// the Instance as JSON and bound to a lease, so a dead process drops out
// within the lease TTL.
package sd

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitshop/kitshop/kit/errs"
)

// Prefix is the etcd key space that holds every registered instance.
const Prefix = "/kitshop/services/"

// Reasons for the errors this package returns.
const (
	// ReasonNoInstances: discovery knows no instance of the callee, so
	// nothing was tried.
	ReasonNoInstances = "NO_INSTANCES"
	// ReasonRegistryUnavailable: etcd could not be read.
	ReasonRegistryUnavailable = "REGISTRY_UNAVAILABLE"
)

// Instance is one running process of a service as it appears in the
// registry. It is the JSON value stored under Key(Name, ID).
type Instance struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Version  string `json:"version"`
	HTTPAddr string `json:"http_addr"`
	GRPCAddr string `json:"grpc_addr"`
	// RegisteredAt is when the instance first registered; re-registration
	// after a lost lease keeps it, so the stored value (which client-side
	// load balancers use as the instance's identity) stays stable.
	RegisteredAt time.Time `json:"registered_at"`
}

// Key is the etcd key of instance id of service name. Key(name, "") is the
// prefix under which all instances of name live.
func Key(name, id string) string {
	return Prefix + name + "/" + id
}

// DecodeInstance parses a stored Instance value.
func DecodeInstance(value string) (Instance, error) {
	var inst Instance
	if err := json.Unmarshal([]byte(value), &inst); err != nil {
		return Instance{}, fmt.Errorf("sd: malformed instance value: %w", err)
	}
	return inst, nil
}

// validateSegment rejects names and ids that would escape their place in the key
// space: a "/" in a name would make one service's prefix match another's.
func validateSegment(field, v string) error {
	if v == "" {
		return errs.Invalid(errs.FieldViolation{Field: field, Message: "must not be empty"})
	}
	if strings.Contains(v, "/") {
		return errs.Invalid(errs.FieldViolation{Field: field, Message: "must not contain '/'"})
	}
	return nil
}

// List returns the registered instances of service name, ordered by id.
// Values that are not valid Instance JSON are skipped: one bad writer must
// not hide every other instance.
func List(ctx context.Context, c *clientv3.Client, name string) ([]Instance, error) {
	if err := validateSegment("name", name); err != nil {
		return nil, err
	}
	resp, err := c.Get(ctx, Key(name, ""), clientv3.WithPrefix())
	if err != nil {
		return nil, registryError(ctx, err)
	}
	out := make([]Instance, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		if inst, err := DecodeInstance(string(kv.Value)); err == nil {
			out = append(out, inst)
		}
	}
	return out, nil
}

// ListAll returns every registered instance grouped by service name (taken
// from the key, which is authoritative), each group ordered by id.
// Malformed values are skipped as in List.
func ListAll(ctx context.Context, c *clientv3.Client) (map[string][]Instance, error) {
	resp, err := c.Get(ctx, Prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, registryError(ctx, err)
	}
	out := map[string][]Instance{}
	for _, kv := range resp.Kvs {
		name, _, ok := strings.Cut(strings.TrimPrefix(string(kv.Key), Prefix), "/")
		if !ok || name == "" {
			continue
		}
		inst, err := DecodeInstance(string(kv.Value))
		if err != nil {
			continue
		}
		out[name] = append(out[name], inst)
	}
	return out, nil
}

// registryError classifies an etcd failure. A caller's own cancellation or
// deadline keeps its meaning; anything else means etcd is unreachable.
func registryError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errs.As(ctx.Err())
	}
	return errs.Wrap(errs.Unavailable, ReasonRegistryUnavailable, err, "service registry unavailable")
}
