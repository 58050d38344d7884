package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitshop/kitshop/kit/sd"
	"github.com/kitshop/kitshop/kit/tlsx"
	"github.com/kitshop/kitshop/ops/launcher/control"
	"github.com/kitshop/kitshop/ops/rollout/restart"
)

// platform is the running `make run` as a scenario drives it: the
// launcher's socket to start, stop, kill and pause processes, and the
// registry (its view to count, its etcd to redirect an instance).
type platform struct {
	ctl      *control.Client
	view     *restart.RegistryView
	gateway  string // base URL
	registry control.Instance
	tlsDir   string // "" when insecure
	log      func(format string, args ...any)
}

func (p *platform) scheme() string {
	if p.tlsDir == "" {
		return "http"
	}
	return "https"
}

// tlsFiles is identity's make run certificate (none when insecure).
func (p *platform) tlsFiles(identity string) tlsx.Files {
	if p.tlsDir == "" {
		return tlsx.Files{}
	}
	return tlsx.Files{CA: filepath.Join(p.tlsDir, "ca.pem"), Cert: filepath.Join(p.tlsDir, identity+".pem"), Key: filepath.Join(p.tlsDir, identity+"-key.pem")}
}

// connect finds the gateway and the registry through the launcher.
func connect(ctx context.Context, socket, tlsDir string, log func(string, ...any)) (*platform, error) {
	ctl, err := control.Dial(socket)
	if err != nil {
		return nil, err
	}
	p := &platform{ctl: ctl, tlsDir: tlsDir, log: log}
	all, err := ctl.List(ctx, "")
	if err != nil {
		ctl.Close()
		return nil, err
	}
	var gw *control.Instance
	for _, in := range all {
		switch in.Service {
		case "registry":
			p.registry = in
		case "gateway":
			gw = &in
		}
	}
	switch {
	case p.registry.PID == 0:
		err = errors.New("the launcher runs no registry")
	case gw == nil:
		err = errors.New("the launcher runs no gateway: the load goes through it")
	}
	if err == nil {
		ca := ""
		if tlsDir != "" {
			ca = filepath.Join(tlsDir, "ca.pem")
		}
		p.gateway = p.scheme() + "://" + gw.HTTPAddr
		p.view, err = restart.NewRegistryView(p.registry.HTTPAddr, ca)
	}
	if err != nil {
		ctl.Close()
		return nil, err
	}
	return p, nil
}

func (p *platform) Close() {
	p.view.Close()
	p.ctl.Close()
}

// registered is what the registry lists for service; an error counts as
// "cannot tell" for the callers that poll it.
func (p *platform) registered(ctx context.Context, service string) ([]sd.Instance, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return p.view.Instances(ctx, service)
}

// waitFor polls cond every 100 ms until it holds, within bound.
func waitFor(ctx context.Context, bound time.Duration, what string, cond func(context.Context) bool) error {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for !cond(ctx) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not within %v", what, bound)
		case <-t.C:
		}
	}
	return nil
}

// startExtra starts one more instance of service (env added), waits
// until it is registered and returns it with its registry entry.
func (p *platform) startExtra(ctx context.Context, service string, env ...string) (control.Instance, sd.Instance, error) {
	in, err := p.ctl.Start(ctx, service, env...)
	if err != nil {
		return in, sd.Instance{}, err
	}
	p.log("started %s through the launcher %s", in, strings.Join(env, " "))
	actx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if in, err = p.ctl.WaitAddrs(actx, in.PID); err != nil {
		return in, sd.Instance{}, err
	}
	var reg sd.Instance
	err = waitFor(ctx, 60*time.Second, in.String()+" registered", func(ctx context.Context) bool {
		ins, err := p.registered(ctx, service)
		i := slices.IndexFunc(ins, func(r sd.Instance) bool { return r.HTTPAddr == in.HTTPAddr })
		if err != nil || i < 0 {
			return false
		}
		reg = ins[i]
		return true
	})
	if err == nil {
		p.log("%s registered (grpc %s)", in, reg.GRPCAddr)
	}
	return in, reg, err
}

// etcd is a client of the registry's etcd as identity (any platform
// certificate may write there; see README, Security notes).
func (p *platform) etcd(identity string) (*clientv3.Client, error) {
	endpoints := []string{p.registry.GRPCAddr}
	if p.tlsDir == "" {
		return sd.NewClient(endpoints)
	}
	id, err := tlsx.Load(p.tlsFiles(identity))
	if err != nil {
		return nil, err
	}
	return sd.NewClientTLS(endpoints, id.ClientConfig("registry"))
}

// redirect rewrites reg's registry entry so that callers dial grpcAddr
// (a fault proxy) instead of the instance's own gRPC port. The entry
// keeps the instance's lease (it still expires with the instance).
//
// kitshop has no setting for an advertised port (KITSHOP_ADVERTISE_HOST
// replaces only the host, and only for wildcard listeners), so this is
// the one way to put a proxy in front of a running instance without
// changing kit/. The instance re-publishes its own entry if it loses its
// lease or flips readiness; verifyRedirect tells.
func (p *platform) redirect(ctx context.Context, service string, reg sd.Instance, grpcAddr string) error {
	cli, err := p.etcd(service)
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	key := "/kitshop/services/" + service + "/" + reg.ID
	resp, err := cli.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("etcd get %s: %w", key, err)
	}
	if len(resp.Kvs) != 1 {
		return fmt.Errorf("etcd: %s is not registered under %s", reg.ID, key)
	}
	var entry map[string]any
	if err := json.Unmarshal(resp.Kvs[0].Value, &entry); err != nil {
		return fmt.Errorf("etcd %s: %w", key, err)
	}
	entry["grpc_addr"] = grpcAddr
	b, err := json.Marshal(entry)
	if err != nil {
		return err
	}
	// Only if nobody rewrote it since the read.
	txn, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", resp.Kvs[0].ModRevision)).
		Then(clientv3.OpPut(key, string(b), clientv3.WithIgnoreLease())).Commit()
	if err != nil {
		return fmt.Errorf("etcd put %s: %w", key, err)
	}
	if !txn.Succeeded {
		return fmt.Errorf("etcd %s changed while being redirected; try again", key)
	}
	p.log("registry entry of %s %s now points at %s", service, reg.ID, grpcAddr)
	return waitFor(ctx, 10*time.Second, "the registry view showing the redirect", func(ctx context.Context) bool {
		return p.listedAt(ctx, service, grpcAddr)
	})
}

// listedAt reports whether the registry lists an instance of service at
// grpcAddr.
func (p *platform) listedAt(ctx context.Context, service, grpcAddr string) bool {
	ins, err := p.registered(ctx, service)
	return err == nil && slices.ContainsFunc(ins, func(r sd.Instance) bool { return r.GRPCAddr == grpcAddr })
}

// gatewayGet is one GET through the gateway, for preflight checks.
func gatewayGet(ctx context.Context, c *http.Client, url, apiKey string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if apiKey != "" {
		req.Header.Set("X-API-Key", apiKey)
	}
	return c.Do(req)
}
