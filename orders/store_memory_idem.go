package main

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
)

// claimIdem is postgresStore's claimIdem; m.mu is held.
func (m *memoryStore) claimIdem(o Order, idem *IdemClaim) (IdemRecord, bool, error) {
	userID, ok := canonID(idem.UserID)
	if !ok {
		return IdemRecord{}, false, errInvalidID("user", idem.UserID)
	}
	k := idemID{userID, idem.Key}
	if rec, ok := m.idem[k]; ok && rec.ExpiresAt.After(o.CreatedAt) {
		return copyIdem(rec), false, nil
	}
	m.idem[k] = IdemRecord{UserID: userID, Key: idem.Key, Fingerprint: idem.Fingerprint, OrderID: o.ID,
		LockedUntil: dbTime(idem.LockedUntil), ExpiresAt: dbTime(idem.ExpiresAt), CreatedAt: dbTime(o.CreatedAt)}
	return IdemRecord{}, true, nil
}

func copyIdem(rec IdemRecord) IdemRecord {
	rec.Response = slices.Clone(rec.Response)
	return rec
}

func (m *memoryStore) CompleteIdempotent(_ context.Context, userID, key string, response json.RawMessage, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	userID, _ = canonID(userID)
	k := idemID{userID, key}
	rec, ok := m.idem[k]
	switch {
	case !ok:
		return errIdemNotFound
	case rec.Complete:
		return nil // the first answer stays
	case !json.Valid(response):
		return errs.Internalf(nil, "orders: idempotent response is not JSON")
	}
	rec.Complete, rec.Response, rec.LockedUntil = true, slices.Clone(response), dbTime(now)
	m.idem[k] = rec
	return nil
}

func (m *memoryStore) LockIdempotent(_ context.Context, userID, key string, now, until time.Time) (IdemRecord, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	userID, _ = canonID(userID)
	k := idemID{userID, key}
	rec, ok := m.idem[k]
	if !ok {
		return IdemRecord{}, false, errIdemNotFound
	}
	if rec.Complete || rec.LockedUntil.After(now) {
		return copyIdem(rec), false, nil
	}
	rec.LockedUntil = dbTime(until)
	m.idem[k] = rec
	return copyIdem(rec), true, nil
}

func (m *memoryStore) PurgeIdempotent(_ context.Context, now time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, rec := range m.idem {
		if !rec.ExpiresAt.After(now) {
			delete(m.idem, k)
			n++
		}
	}
	return n, nil
}
