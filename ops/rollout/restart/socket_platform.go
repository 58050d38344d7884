package restart

import (
	"context"

	"github.com/kitshop/kitshop/ops/launcher/control"
)

// SocketPlatform is the Platform of a running `make run`: instances are
// started and stopped through the launcher's control socket, and counted
// in the registry's view.
type SocketPlatform struct {
	Control  *control.Client
	Registry *RegistryView
	// Env is added to every replacement (e.g. KITSHOP_SERVICE_VERSION=v2).
	Env []string
	// err keeps Running's failure: Platform.Running returns no error, so
	// Main checks it after the snapshot.
	err error
}

type socketInstance struct{ control.Instance }

func (s *SocketPlatform) Running(service string) []Instance {
	all, err := s.Control.List(context.Background(), service)
	if err != nil {
		s.err = err
		return nil
	}
	out := make([]Instance, 0, len(all))
	for _, in := range all {
		out = append(out, socketInstance{in})
	}
	return out
}

func (s *SocketPlatform) Start(ctx context.Context, service string) (Instance, error) {
	in, err := s.Control.Start(ctx, service, s.Env...)
	return socketInstance{in}, err
}

func (s *SocketPlatform) Registered(ctx context.Context, service string) (int, error) {
	ins, err := s.Registry.Instances(ctx, service)
	return len(ins), err
}

func (s *SocketPlatform) Stop(ctx context.Context, in Instance) error {
	_, err := s.Control.Stop(ctx, in.(socketInstance).PID)
	return err
}
