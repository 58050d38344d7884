package main

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/sd"
)

// addReadiness makes /health/ready say whether the gateway can serve
// every route: one check per discovered backend, passing when the
// registry answers and lists at least one instance of it. A backend at a
// fixed address has no check: there is nothing to discover.
func addReadiness(ready *health.Readiness, etcd *clientv3.Client, discovered []string) {
	if etcd == nil {
		return
	}
	for _, service := range discovered {
		ready.AddCheck(service, func(ctx context.Context) error {
			insts, err := sd.List(ctx, etcd, service)
			if err != nil {
				return err
			}
			if len(insts) == 0 {
				return errs.New(errs.Unavailable, sd.ReasonNoInstances, fmt.Sprintf("no %s instance is registered", service))
			}
			return nil
		})
	}
}
