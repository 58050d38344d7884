package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
)

// memoryStore is the embedded store for running without a database. One
// mutex makes every method atomic, which gives the same all-or-nothing
// semantics as the Postgres transactions.
type memoryStore struct {
	mu           sync.Mutex
	products     map[string]*Product
	ids          []string // sorted, for keyset listing
	bySKU        map[string]string
	reservations map[string]*Reservation
	resByKey     map[string]string
	adjustments  map[string]StockAdjustment
	restocks     map[string]Restock
	sinks        map[*StockSink]struct{}
}

// newMemoryStore returns an empty in-memory store.
func newMemoryStore() *memoryStore {
	return &memoryStore{
		products:     map[string]*Product{},
		bySKU:        map[string]string{},
		reservations: map[string]*Reservation{},
		resByKey:     map[string]string{},
		adjustments:  map[string]StockAdjustment{},
		restocks:     map[string]Restock{},
		sinks:        map[*StockSink]struct{}{},
	}
}

func (m *memoryStore) CreateProduct(_ context.Context, p Product) (Product, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.bySKU[p.SKU]; ok {
		return Product{}, ErrSKUTaken
	}
	m.insertLocked(p)
	return p, nil
}

func (m *memoryStore) insertLocked(p Product) {
	m.products[p.ID] = &p
	m.bySKU[p.SKU] = p.ID
	i, _ := slices.BinarySearch(m.ids, p.ID)
	m.ids = slices.Insert(m.ids, i, p.ID)
}

func (m *memoryStore) UpdateProduct(_ context.Context, u ProductUpdate, now time.Time) (Product, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.products[u.ID]
	if !ok {
		return Product{}, ErrProductNotFound
	}
	if u.Name != nil {
		p.Name = *u.Name
	}
	if u.Description != nil {
		p.Description = *u.Description
	}
	if u.Category != nil {
		p.Category = *u.Category
	}
	if u.PriceCents != nil {
		p.PriceCents = *u.PriceCents
	}
	if u.Active != nil {
		p.Active = *u.Active
	}
	p.Version++
	p.UpdatedAt = now
	return *p, nil
}

func (m *memoryStore) GetProduct(_ context.Context, id string) (Product, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.products[id]
	if !ok {
		return Product{}, ErrProductNotFound
	}
	return *p, nil
}

func (m *memoryStore) GetProducts(_ context.Context, ids []string) ([]Product, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Product, 0, len(ids))
	for _, id := range ids {
		if p, ok := m.products[id]; ok {
			out = append(out, *p)
		}
	}
	return out, nil
}

// SearchProducts matches Text as a case-insensitive substring. Its rank
// mimics the Postgres weights (name A=1.0, category B=0.4, description
// C=0.2), so name matches come first in both stores.
func (m *memoryStore) SearchProducts(_ context.Context, q SearchQuery) (SearchResult, error) {
	m.mu.Lock()
	type hit struct {
		p    Product
		rank float32
	}
	var hits []hit
	needle := strings.ToLower(q.Text)
	for _, p := range m.products {
		if !p.Active || (q.Category != "" && p.Category != q.Category) ||
			(q.MinPriceCents != nil && p.PriceCents < *q.MinPriceCents) ||
			(q.MaxPriceCents != nil && p.PriceCents > *q.MaxPriceCents) {
			continue
		}
		var rank float32
		if needle != "" {
			if strings.Contains(strings.ToLower(p.Name), needle) {
				rank += 1.0
			}
			if strings.Contains(strings.ToLower(p.Category), needle) {
				rank += 0.4
			}
			if strings.Contains(strings.ToLower(p.Description), needle) {
				rank += 0.2
			}
			if rank == 0 {
				continue
			}
		}
		hits = append(hits, hit{*p, rank})
	}
	m.mu.Unlock()

	text := q.Text != ""
	order := func(a, b hit) int {
		if text {
			if c := cmp.Compare(b.rank, a.rank); c != 0 {
				return c
			}
		} else if c := strings.Compare(a.p.Name, b.p.Name); c != 0 {
			return c
		}
		return strings.Compare(a.p.ID, b.p.ID)
	}
	slices.SortFunc(hits, order)
	res := SearchResult{Total: int64(len(hits)), Products: []Product{}}
	start := 0
	if q.After != nil {
		after := hit{p: Product{ID: q.After.ID, Name: q.After.Name}, rank: q.After.Rank}
		start, _ = slices.BinarySearchFunc(hits, after, order)
		if start < len(hits) && order(hits[start], after) == 0 {
			start++
		}
	}
	end := min(start+q.Limit, len(hits))
	for _, h := range hits[start:end] {
		res.Products = append(res.Products, h.p)
	}
	if end < len(hits) && end > start {
		last := hits[end-1]
		res.Next = &SearchCursor{Rank: last.rank, Name: last.p.Name, ID: last.p.ID}
	}
	return res, nil
}

func (m *memoryStore) ListProducts(_ context.Context, afterID string, limit int) ([]Product, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	start := 0
	if afterID != "" {
		var found bool
		start, found = slices.BinarySearch(m.ids, afterID)
		if found {
			start++
		}
	}
	end := min(start+limit, len(m.ids))
	out := make([]Product, 0, end-start)
	for _, id := range m.ids[start:end] {
		out = append(out, *m.products[id])
	}
	return out, nil
}

func (m *memoryStore) UpsertProduct(_ context.Context, p Product) (Product, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, exists := m.bySKU[p.SKU]
	if !exists {
		m.insertLocked(p)
		return p, true, nil
	}
	cur := m.products[id]
	if p.Stock < cur.Reserved {
		return Product{}, false, stockBelowReserved(cur.ID, cur.Reserved, p.Stock)
	}
	stockChanged := cur.Stock != p.Stock
	cur.Name, cur.Description, cur.Category = p.Name, p.Description, p.Category
	cur.PriceCents, cur.Currency, cur.Stock, cur.Active = p.PriceCents, p.Currency, p.Stock, p.Active
	cur.Version++
	cur.UpdatedAt = p.UpdatedAt
	if stockChanged {
		m.publishLocked(*cur)
	}
	return *cur, false, nil
}

func (m *memoryStore) AdjustStock(_ context.Context, a StockAdjustment, now time.Time) (Product, *StockAdjustment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a.IdempotencyKey != "" {
		if prior, ok := m.adjustments[a.IdempotencyKey]; ok {
			return *m.products[prior.ProductID], &prior, nil
		}
	}
	p, ok := m.products[a.ProductID]
	if !ok {
		return Product{}, nil, ErrProductNotFound
	}
	if p.Stock+a.Delta < p.Reserved {
		return Product{}, nil, insufficientStock(p.ID, p.Available(), -a.Delta)
	}
	p.Stock += a.Delta
	p.Version++
	p.UpdatedAt = now
	if a.IdempotencyKey != "" {
		m.adjustments[a.IdempotencyKey] = a
	}
	m.publishLocked(*p)
	return *p, nil, nil
}

func (m *memoryStore) Reserve(_ context.Context, r Reservation) (Reservation, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.reservations[r.ID]; ok {
		return cloneReservation(*cur), false, nil
	}
	if id, ok := m.resByKey[r.IdempotencyKey]; ok {
		return cloneReservation(*m.reservations[id]), false, nil
	}
	// Check every item before touching any: all or nothing.
	for _, it := range r.Items {
		p, ok := m.products[it.ProductID]
		switch {
		case !ok:
			return Reservation{}, false, productError(ErrProductNotFound, it.ProductID)
		case !p.Active:
			return Reservation{}, false, productError(ErrProductInactive, it.ProductID)
		case p.Available() < it.Quantity:
			return Reservation{}, false, insufficientStock(p.ID, p.Available(), it.Quantity)
		}
	}
	r = cloneReservation(r)
	for i, it := range r.Items {
		p := m.products[it.ProductID]
		r.Items[i].UnitPriceCents, r.Items[i].Currency = p.PriceCents, p.Currency
		p.Reserved += it.Quantity
		p.Version++
		p.UpdatedAt = r.CreatedAt
		m.publishLocked(*p)
	}
	m.reservations[r.ID] = &r
	m.resByKey[r.IdempotencyKey] = r.ID
	return cloneReservation(r), true, nil
}

func (m *memoryStore) TransitionReservation(_ context.Context, ref ReservationLookup, now time.Time,
	decide func(Reservation) (ReservationStatus, error)) (Reservation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := ref.ID
	if id == "" {
		id = m.resByKey[ref.Key]
	}
	r, ok := m.reservations[id]
	if !ok {
		return Reservation{}, ErrReservationNotFound
	}
	to, err := decide(cloneReservation(*r))
	if err != nil {
		return Reservation{}, err
	}
	if to == r.Status {
		return cloneReservation(*r), nil
	}
	if err := m.settleLocked(r, to, now); err != nil {
		return Reservation{}, err
	}
	return cloneReservation(*r), nil
}

func (m *memoryStore) GetReservation(_ context.Context, ref ReservationLookup) (Reservation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := ref.ID
	if id == "" {
		id = m.resByKey[ref.Key]
	}
	r, ok := m.reservations[id]
	if !ok {
		return Reservation{}, ErrReservationNotFound
	}
	return cloneReservation(*r), nil
}

// settleLocked moves r to status to, with its effect on stock: a RESERVED
// reservation's committed units leave stock and any other ending gives
// them back; an EXPIRED one being committed takes its units again.
func (m *memoryStore) settleLocked(r *Reservation, to ReservationStatus, now time.Time) error {
	switch {
	case r.Status == ReservationExpired && to == ReservationCommitted:
		return m.retakeLocked(r, now)
	case r.Status != ReservationReserved || to == ReservationReserved:
		return errs.Internalf(fmt.Errorf("%s -> %s", r.Status, to), "reservation %s: illegal transition", r.ID)
	}
	for _, it := range r.Items {
		if p := m.products[it.ProductID]; p == nil || p.Reserved < it.Quantity || p.Stock < it.Quantity {
			return errs.Internalf(fmt.Errorf("product %s cannot give back %d", it.ProductID, it.Quantity),
				"reservation %s: inventory out of step", r.ID)
		}
	}
	for _, it := range r.Items {
		p := m.products[it.ProductID]
		p.Reserved -= it.Quantity
		if to == ReservationCommitted {
			p.Stock -= it.Quantity
		}
		p.Version++
		p.UpdatedAt = now
		m.publishLocked(*p)
	}
	r.Status = to
	r.UpdatedAt = now
	return nil
}

// retakeLocked commits an EXPIRED reservation by selling its units again,
// only if every one of them is still available.
func (m *memoryStore) retakeLocked(r *Reservation, now time.Time) error {
	for _, it := range r.Items {
		p := m.products[it.ProductID]
		if p == nil {
			return reservationExpired(it.ProductID, 0, it.Quantity)
		}
		if p.Available() < it.Quantity {
			return reservationExpired(it.ProductID, p.Available(), it.Quantity)
		}
	}
	for _, it := range r.Items {
		p := m.products[it.ProductID]
		p.Stock -= it.Quantity
		p.Version++
		p.UpdatedAt = now
		m.publishLocked(*p)
	}
	r.Status = ReservationCommitted
	r.UpdatedAt = now
	return nil
}

func (m *memoryStore) Restock(_ context.Context, r Restock, now time.Time) ([]Product, *Restock, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if prior, ok := m.restocks[r.IdempotencyKey]; ok {
		out := make([]Product, 0, len(prior.Items))
		for _, it := range prior.Items {
			out = append(out, *m.products[it.ProductID])
		}
		prior.Items = slices.Clone(prior.Items)
		return out, &prior, nil
	}
	for _, it := range r.Items {
		if _, ok := m.products[it.ProductID]; !ok {
			return nil, nil, productError(ErrProductNotFound, it.ProductID)
		}
	}
	out := make([]Product, 0, len(r.Items))
	for _, it := range r.Items {
		p := m.products[it.ProductID]
		p.Stock += it.Quantity
		p.Version++
		p.UpdatedAt = now
		m.publishLocked(*p)
		out = append(out, *p)
	}
	r.Items = slices.Clone(r.Items)
	m.restocks[r.IdempotencyKey] = r
	return out, nil, nil
}

func (m *memoryStore) ExpireReservations(_ context.Context, now time.Time, limit int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var due []*Reservation
	for _, r := range m.reservations {
		if r.Status == ReservationReserved && !r.ExpiresAt.After(now) {
			due = append(due, r)
		}
	}
	slices.SortFunc(due, func(a, b *Reservation) int { return a.ExpiresAt.Compare(b.ExpiresAt) })
	if len(due) > limit {
		due = due[:limit]
	}
	for _, r := range due {
		if err := m.settleLocked(r, ReservationExpired, now); err != nil {
			return 0, err
		}
	}
	return len(due), nil
}

func (m *memoryStore) HeldReservations(_ context.Context, now time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, r := range m.reservations {
		if r.Status == ReservationReserved && r.ExpiresAt.After(now) {
			n++
		}
	}
	return n, nil
}

// WatchStock registers sink until ctx ends. Changes are published under
// the store's lock, so per-product order is commit order.
func (m *memoryStore) WatchStock(ctx context.Context, sink StockSink) error {
	key := &sink
	m.mu.Lock()
	m.sinks[key] = struct{}{}
	m.mu.Unlock()
	<-ctx.Done()
	m.mu.Lock()
	delete(m.sinks, key)
	m.mu.Unlock()
	return nil
}

func (m *memoryStore) publishLocked(p Product) {
	for s := range m.sinks {
		(*s).Publish(p.Level())
	}
}

func (m *memoryStore) Check(context.Context) error { return nil }

func (m *memoryStore) Close() error { return nil }

func cloneReservation(r Reservation) Reservation {
	r.Items = slices.Clone(r.Items)
	return r
}
