package main

import (
	"sync"
	"time"

	"github.com/kitshop/kitshop/kit/card"
	"github.com/kitshop/kitshop/kit/saga"
)

// cardVault holds the card of each checkout this instance accepted, in
// memory only (pb common.Card's contract: never stored), until its charge
// step is over. A card is also forgotten after ttl (the reservation's):
// by then the checkout has either charged or lost its stock, and a card
// must not linger in a process for a saga that stalled.
type cardVault struct {
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	cards map[string]heldCard
}

type heldCard struct {
	card  card.Card
	until time.Time
}

func newCardVault(ttl time.Duration, now func() time.Time) *cardVault {
	return &cardVault{ttl: ttl, now: now, cards: make(map[string]heldCard)}
}

// put keeps c for saga id unless a card is held for it already.
func (v *cardVault) put(id string, c card.Card) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now()
	for k, h := range v.cards {
		if !h.until.After(now) {
			delete(v.cards, k)
		}
	}
	if _, ok := v.cards[id]; !ok {
		v.cards[id] = heldCard{card: c, until: now.Add(v.ttl)}
	}
}

func (v *cardVault) get(id string) (card.Card, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	h, ok := v.cards[id]
	if !ok || !h.until.After(v.now()) {
		return card.Card{}, false
	}
	return h.card, true
}

func (v *cardVault) drop(id string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.cards, id)
}

func (v *cardVault) len() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.cards)
}

// cardStillNeeded reports whether checkout st may still send its charge:
// it runs forward and its charge step is not over.
func (s *service) cardStillNeeded(st saga.State) bool {
	if st.Status != saga.Running {
		return false
	}
	for _, step := range st.Steps {
		if step.Name == stepCharge {
			return step.Status == saga.StepPending || step.Status == saga.StepStarted
		}
	}
	return false
}
