package main

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"
)

// How WaitEvents waits on Postgres. With the listener connected and
// listening, a relay anywhere wakes it at once and listenedPoll is only a
// safety net (a notification lost to a silently dead connection); without
// it, WaitEvents polls every pollInterval.
const (
	pollInterval = time.Second
	listenedPoll = 10 * time.Second
	// checkTimeout bounds WaitEvents' look at the log.
	checkTimeout = 5 * time.Second
)

// Listener connection settings: reconnect back-off, a bounded dial (a
// black-holed server must not hold a reconnect for minutes), and TCP
// keep-alives so a dead peer is noticed.
const (
	listenMinReconnect = 250 * time.Millisecond
	listenMaxReconnect = 5 * time.Second
	listenDialTimeout  = 5 * time.Second
	// listenCloseWait bounds Close's wait for the listener's goroutines:
	// the longest they can take to notice is a reconnect pause or a dial.
	listenCloseWait = listenMaxReconnect + listenDialTimeout + time.Second
)

// pgNotifier wakes this instance's WaitEvents callers: on NOTIFY
// orders_events (a relay on any instance), on a relay of this instance,
// and when the listener's state changes (a reconnect may have lost
// notifications). One shared pq.Listener serves every waiter; it is
// created on the first wait and closed by close.
type pgNotifier struct {
	mu   sync.Mutex
	wake chan struct{} // closed by the next broadcast
	dsn  string

	listener  *pq.Listener
	connected bool // the listener's connection is up
	listening bool // LISTEN went through (resync repeats it on reconnects)
	closed    bool
	wg        sync.WaitGroup
	// waiting counts WaitEvents calls blocked on wake (what a test waits
	// for before it relays).
	waiting atomic.Int32
}

func newPGNotifier() *pgNotifier { return &pgNotifier{wake: make(chan struct{})} }

func (n *pgNotifier) setDSN(dsn string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dsn = dsn
}

// broadcast wakes every current waiter.
func (n *pgNotifier) broadcast() {
	n.mu.Lock()
	defer n.mu.Unlock()
	close(n.wake)
	n.wake = make(chan struct{})
}

// watch starts the listener if it is not running yet and returns the
// channel the next broadcast closes, and how long to wait at most.
func (n *pgNotifier) watch() (<-chan struct{}, time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.listener == nil && n.dsn != "" && !n.closed {
		n.start()
	}
	if n.connected && n.listening {
		return n.wake, listenedPoll
	}
	return n.wake, pollInterval
}

// start creates the listener; n.mu is held. Listen blocks until the
// first connection, so it runs in its own goroutine: until it returns,
// waiters poll.
func (n *pgNotifier) start() {
	l := pq.NewDialListener(listenDialer{}, n.dsn, listenMinReconnect, listenMaxReconnect, n.event)
	n.listener = l
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		// Ends when Close closes the listener, which closes Notify. A
		// nil notification means a reconnect: wake, something may be lost.
		for range l.Notify {
			n.broadcast()
		}
	}()
	go func() {
		defer n.wg.Done()
		if err := l.Listen(eventsChannel); err != nil {
			return // closed, or the server refused: waiters keep polling
		}
		n.mu.Lock()
		n.listening = true
		n.mu.Unlock()
	}()
}

// listened reports whether notifications are arriving: the listener is
// connected and LISTEN went through.
func (n *pgNotifier) listened() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.connected && n.listening
}

// event follows the listener's connection, from its goroutine.
func (n *pgNotifier) event(ev pq.ListenerEventType, _ error) {
	n.mu.Lock()
	was := n.connected
	n.connected = ev == pq.ListenerEventConnected || ev == pq.ListenerEventReconnected
	lost := was && !n.connected
	n.mu.Unlock()
	if lost {
		// Waiters relying on notifications go back to polling. (A
		// reconnect wakes them through a nil notification.)
		n.broadcast()
	}
}

// close stops the listener and waits, bounded, for its goroutines.
func (n *pgNotifier) close() {
	n.mu.Lock()
	l := n.listener
	n.closed = true
	n.mu.Unlock()
	if l == nil {
		return
	}
	// Not under n.mu: the listener may be dialing with its own lock held,
	// and its callback takes n.mu.
	_ = l.Close()
	done := make(chan struct{})
	go func() {
		n.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(listenCloseWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// listenDialer bounds the listener's dials and keeps its connection
// probed.
type listenDialer struct{}

func (listenDialer) Dial(network, address string) (net.Conn, error) {
	return listenDialer{}.DialTimeout(network, address, listenDialTimeout)
}

func (listenDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: min(timeout, listenDialTimeout), KeepAlive: 15 * time.Second}
	return d.Dial(network, address)
}

// WaitEvents returns when the log may have grown past after: at once if
// it already has, else on a wake-up, after the poll interval, or when ctx
// ends (with ctx's error).
func (s *postgresStore) WaitEvents(ctx context.Context, after int64) error {
	// Watch before looking: a relay that commits after the look still
	// closes the channel taken here, so no wake-up falls in between.
	wake, wait := s.notify.watch()
	if err := ctx.Err(); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, checkTimeout)
	var grown bool
	// max() of the key is one index probe whatever the plan; EXISTS with
	// a range condition turned into a sequential scan of the whole log
	// once Postgres chose a generic plan for the prepared statement
	// (kit/pg keeps statements prepared): ~6 ms a call, measured.
	err := s.db.QueryRowContext(cctx, `SELECT COALESCE(max(event_offset), 0) > $1 FROM order_events`, after).Scan(&grown)
	cancel()
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		// Cannot tell: wait as if nothing came, then let the caller read
		// (and meet the error there), rather than spin on a failing check.
		wait = pollInterval
	case grown:
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	s.notify.waiting.Add(1)
	defer s.notify.waiting.Add(-1)
	select {
	case <-wake:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}
