package sd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/kit/sd"
	"github.com/go-kit/kit/sd/lb"
	"github.com/go-kit/log"
	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/kit/errs"
)

// EndpointOptions tunes Endpoint. The zero value is usable.
type EndpointOptions struct {
	// Logger receives discovery problems (unparseable instances, dial
	// failures). Default: discard.
	Logger log.Logger
	// RetryMax is the maximum number of attempts per call, the first
	// included (go-kit's lb.Retry counting). Default 3.
	RetryMax int
	// Timeout bounds a whole call, all attempts together. Default 5s.
	Timeout time.Duration
}

func (o EndpointOptions) withDefaults() EndpointOptions {
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 3
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	return o
}

// Endpoint returns a client endpoint that follows the instances published
// by inst, balances calls round-robin over them, and retries a failed
// call on the next instance, but only for infrastructure failures
// (errs.IsInfrastructure): a business answer such as NotFound is final
// and returned at once.
//
// method builds the go-kit endpoint of one RPC over a connection; the
// connection comes from conns, shared with every other method of the same
// instance, and is released when the instance disappears. Conns.Close
// stops the returned endpoint from following discovery.
//
// Errors keep their errs kind and reason: the last attempt's error is
// returned (never go-kit's lb.RetryError), gRPC statuses are converted
// with errs.FromGRPC, and having no instance at all is Unavailable with
// reason NO_INSTANCES.
func Endpoint(inst sd.Instancer, conns *Conns, method func(*grpc.ClientConn) endpoint.Endpoint, opts EndpointOptions) endpoint.Endpoint {
	opts = opts.withDefaults()
	factory := func(instance string) (endpoint.Endpoint, io.Closer, error) {
		in, err := DecodeInstance(instance)
		if err != nil {
			return nil, nil, err
		}
		if in.GRPCAddr == "" {
			return nil, nil, fmt.Errorf("sd: instance %s/%s has no grpc_addr", in.Name, in.ID)
		}
		ref, err := conns.acquire(in.GRPCAddr)
		if err != nil {
			return nil, nil, err
		}
		return conns.track(ref.sc, method(ref.sc.conn)), ref, nil
	}
	endpointer := sd.NewEndpointer(inst, factory, opts.Logger)
	if !conns.own(endpointer.Close) {
		endpointer.Close()
	}
	retry := lb.RetryWithCallback(opts.Timeout, lb.NewRoundRobin(endpointer), func(n int, err error) (bool, error) {
		if errors.Is(err, lb.ErrNoEndpoints) {
			return false, errs.Wrap(errs.Unavailable, ReasonNoInstances, err, "no instance of the service is available")
		}
		return n < opts.RetryMax && errs.IsInfrastructure(err), nil
	})
	return func(ctx context.Context, request any) (any, error) {
		resp, err := retry(ctx, request)
		if err == nil {
			return resp, nil
		}
		var re lb.RetryError
		if errors.As(err, &re) && re.Final != nil {
			err = re.Final
		}
		return nil, errs.FromGRPC(err)
	}
}
