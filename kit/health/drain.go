package health

import "sync"

// DrainSignal returns a channel closed when ready, having been true,
// turns false: the lifecycle's first step of a shutdown. Long-lived
// streams (products' WatchStock, orders' WatchOrder) end on it, so that
// their clients reconnect elsewhere before the drain's deadline. A nil
// ready (tests without a lifecycle) never closes it.
func DrainSignal(ready *Readiness) <-chan struct{} {
	ch := make(chan struct{})
	if ready == nil {
		return ch
	}
	var (
		mu   sync.Mutex
		seen bool
		once sync.Once
	)
	ready.Subscribe(func(r bool) {
		mu.Lock()
		defer mu.Unlock()
		if r {
			seen = true
		} else if seen {
			once.Do(func() { close(ch) })
		}
	})
	return ch
}
