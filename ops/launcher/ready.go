package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// waitReady polls /health/ready so the next process finds this one up. It
// gives up early when the process has exited (exited is closed), say
// because it was handed the wrong certificate.
func waitReady(ctx context.Context, client *http.Client, scheme string, p process, exited <-chan struct{}) error {
	addr := p.httpAddr
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr // the development certificates name 127.0.0.1
	}
	url := scheme + "://" + addr + "/health/ready"
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return errors.New("exited before it was ready")
		case <-deadline.C:
			return fmt.Errorf("not ready after %v", readyTimeout)
		case <-tick.C:
		}
	}
}
