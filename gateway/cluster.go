package main

import (
	"context"

	gokitsd "github.com/go-kit/kit/sd"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitshop/kitshop/kit/sd"
)

// gatewayService is the name gateways register under; they find each
// other there.
const gatewayService = "gateway"

// watchPeers calls share with the number of live gateways, this one
// included, each time the registry's view changes, until ctx ends. It
// is how per-client rate limits hold for the cluster without a shared
// store: each of n gateways admits 1/n of a tier's rate (see README,
// "Rate limiting"). While this gateway is not registered yet (or the
// registry is down) it counts itself, so the share is never 1/0 and
// never larger than the whole.
func watchPeers(ctx context.Context, etcd *clientv3.Client, logger log.Logger, share func(n int)) error {
	inst, err := sd.NewInstancer(etcd, gatewayService, logger)
	if err != nil {
		return err
	}
	events := make(chan gokitsd.Event, 1)
	inst.Register(events)
	defer func() {
		// go-kit broadcasts under its lock, so a send to events pending
		// now would block Deregister forever: drain until it returns.
		done := make(chan struct{})
		go func() {
			for {
				select {
				case <-events:
				case <-done:
					return
				}
			}
		}()
		inst.Deregister(events)
		close(done)
		inst.Stop()
	}()
	last := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-events:
			if ev.Err != nil {
				// Keep the last share: a registry hiccup says nothing
				// about how many gateways run.
				continue
			}
			n := max(1, len(ev.Instances))
			if n != last {
				_ = level.Info(logger).Log("msg", "rate-limit share changed", "gateways", n)
				share(n)
				last = n
			}
		}
	}
}
