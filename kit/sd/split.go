package sd

import (
	"context"
	"encoding/binary"
	"hash/fnv"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// split is a Rollout compiled for choosing a version per call.
type split struct {
	rollout Rollout
	// bounds are the weighted versions in name order with their
	// cumulative upper bounds in [0, 100]: every caller orders them the
	// same way, so a client gets the same version from every gateway.
	bounds []versionBound
	// order is the weighted versions heaviest first: where a call goes
	// when its version has no live instance.
	order []string
}

type versionBound struct {
	version string
	upper   uint64
}

func compileSplit(r Rollout) *split {
	s := &split{rollout: r, order: r.Versions()}
	names := append([]string(nil), s.order...)
	sort.Strings(names)
	var upper uint64
	for _, v := range names {
		upper += uint64(r.Weights[v])
		s.bounds = append(s.bounds, versionBound{version: v, upper: upper})
	}
	return s
}

// choose is the version a call with route key goes to: a stable hash of
// the key and the rollout step, so that a client stays on one version for
// a step (and every gateway agrees on which); a call without a key is
// placed at random by the weights. A retry goes to the stable version
// when there is one: the first attempt may have failed because of the
// new version.
func (s *split) choose(key string, retry bool) string {
	if retry && s.rollout.Stable != "" && s.rollout.Weights[s.rollout.Stable] > 0 {
		return s.rollout.Stable
	}
	if len(s.bounds) == 0 {
		return ""
	}
	var point uint64
	if key == "" {
		point = rand.Uint64N(100)
	} else {
		point = bucket(key, s.rollout.Step)
	}
	for _, b := range s.bounds {
		if point < b.upper {
			return b.version
		}
	}
	return s.bounds[len(s.bounds)-1].version
}

// bucket is key's place in [0, 100) at step.
func bucket(key string, step int) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(step))
	_, _ = h.Write(b[:])
	return h.Sum64() % 100
}

// rolloutWatch follows one service's rollout key. Current is lock-free:
// every call reads it.
type rolloutWatch struct {
	current atomic.Pointer[split]
	cancel  context.CancelFunc
	done    chan struct{}
}

// watchRollout starts following RolloutKey(service). Until the first read
// answers (or while the key is absent) Current is nil: traffic goes to
// every instance, as without rollouts.
func watchRollout(c *clientv3.Client, service string, logger log.Logger) *rolloutWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &rolloutWatch{cancel: cancel, done: make(chan struct{})}
	logger = log.With(logger, "component", "sd.rollout")
	go func() {
		defer close(w.done)
		resync := time.NewTicker(resyncInterval)
		defer resync.Stop()
		for ctx.Err() == nil {
			w.follow(ctx, c, RolloutKey(service), logger, resync.C)
			if !sleep(ctx, rewatchDelay) {
				return
			}
		}
	}()
	return w
}

// Current is the split in force, nil for none.
func (w *rolloutWatch) Current() *split {
	if w == nil {
		return nil
	}
	return w.current.Load()
}

// Stop ends the watch and waits for it.
func (w *rolloutWatch) Stop() {
	if w == nil {
		return
	}
	w.cancel()
	<-w.done
}

// follow reads the key, then watches it from the revision read until
// etcd cancels the watch, the resync ticks, or ctx ends.
func (w *rolloutWatch) follow(ctx context.Context, c *clientv3.Client, key string, logger log.Logger, resync <-chan time.Time) {
	rctx, cancel := context.WithTimeout(ctx, readTimeout)
	resp, err := c.Get(rctx, key)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			_ = level.Warn(logger).Log("msg", "rollout unreadable; keeping the last split", "key", key, "err", err)
		}
		return
	}
	if len(resp.Kvs) == 0 {
		w.apply(nil, logger)
	} else {
		w.apply(resp.Kvs[0].Value, logger)
	}
	wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer wcancel()
	events := c.Watch(wctx, key, clientv3.WithRev(resp.Header.Revision+1))
	for {
		select {
		case wr, ok := <-events:
			if !ok || wr.Err() != nil {
				return
			}
			for _, ev := range wr.Events {
				if ev.Type == mvccpb.DELETE {
					w.apply(nil, logger)
				} else {
					w.apply(ev.Kv.Value, logger)
				}
			}
		case <-resync:
			return // re-read: a safety net for anything the watch missed
		case <-ctx.Done():
			return
		}
	}
}

// apply installs the rollout in value (nil: none). A value that does not
// validate is logged and ignored, keeping the last good split: one bad
// write must not send all traffic somewhere nobody chose.
func (w *rolloutWatch) apply(value []byte, logger log.Logger) {
	if value == nil {
		if w.current.Swap(nil) != nil {
			_ = level.Info(logger).Log("msg", "rollout removed; routing over every instance")
		}
		return
	}
	r, err := DecodeRollout(value)
	if err != nil {
		_ = level.Warn(logger).Log("msg", "ignoring an invalid rollout; keeping the last split", "err", err)
		return
	}
	old := w.current.Swap(compileSplit(r))
	if old == nil || old.rollout.Step != r.Step || !sameWeights(old.rollout.Weights, r.Weights) {
		_ = level.Info(logger).Log("msg", "rollout applied", "service", r.Service, "step", r.Step, "weights", weightsString(r))
	}
}

func sameWeights(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func weightsString(r Rollout) string {
	out := ""
	for i, v := range r.Versions() {
		if i > 0 {
			out += ","
		}
		out += v + "=" + strconv.Itoa(r.Weights[v])
	}
	return out
}
