package main

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/go-kit/log/level"
	"github.com/lib/pq"
)

// stockChannel is the NOTIFY channel the products_stock_notify trigger
// (migrations/0001) announces stock changes on.
const stockChannel = "kitshop_products_stock"

// Listener tuning: reconnect quickly after a blip but back off to a few
// seconds while the server is down; ping an idle connection so a dead one
// (a silently dropped TCP session) is noticed and replaced.
const (
	listenMinReconnect = 100 * time.Millisecond
	listenMaxReconnect = 5 * time.Second
	listenPingEvery    = 30 * time.Second
)

type stockNotice struct {
	ID       string    `json:"id"`
	Stock    int64     `json:"stock"`
	Reserved int64     `json:"reserved"`
	Version  int64     `json:"version"`
	At       time.Time `json:"at"`
}

// WatchStock listens on stockChannel with a dedicated connection (outside
// the pool, as LISTEN is per session). Notifications come from every
// instance writing to this database, so watchers see all changes, not just
// this process's. When the connection drops, notifications sent meanwhile
// are lost; pq.Listener reconnects and says so with a nil notification,
// which becomes sink.Resync().
func (s *postgresStore) WatchStock(ctx context.Context, sink StockSink) error {
	l := pq.NewListener(s.dsn, listenMinReconnect, listenMaxReconnect, func(ev pq.ListenerEventType, err error) {
		if err != nil {
			level.Warn(s.logger).Log("msg", "stock listener "+ev.String(), "err", err)
		}
	})
	var wg sync.WaitGroup
	defer func() {
		_ = l.Close()
		// Close makes the listener goroutine close Notify; drain it so
		// that goroutine is never stuck sending to us.
		for range l.Notify {
		}
		wg.Wait()
	}()

	listening := make(chan error, 1)
	go func() { listening <- l.Listen(stockChannel) }()
	select {
	case <-ctx.Done():
		return nil
	case err := <-listening:
		if err != nil {
			return err
		}
	}
	// Anything committed before LISTEN took effect was missed.
	sink.Resync()

	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(listenPingEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				// A failed ping makes the listener reconnect; nothing to do.
				_ = l.Ping()
			}
		}
	}()

	for {
		select {
		case <-ctx.Done():
			return nil
		case n, ok := <-l.Notify:
			if !ok {
				return nil
			}
			if n == nil {
				sink.Resync()
				continue
			}
			var msg stockNotice
			if err := json.Unmarshal([]byte(n.Extra), &msg); err != nil || msg.ID == "" {
				level.Warn(s.logger).Log("msg", "ignoring malformed stock notification", "err", err)
				continue
			}
			sink.Publish(StockLevel{ProductID: msg.ID, Stock: msg.Stock, Reserved: msg.Reserved,
				Version: msg.Version, At: msg.At.UTC()})
		}
	}
}
