package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// SimulatedProcessor is the deterministic stand-in for a card processor.
// Its verdict depends on the card number only, as the usual test cards do
// (API.md). Like a real processor it keeps its own record of every final
// decision, keyed by idempotency key, in a ledger payments never touches
// except through Processor: in memory beside the memory store, or in its
// own Postgres schema (see processor_simulated_postgres.go), so that its
// memory of a charge survives a crash of the payments process.
type SimulatedProcessor struct {
	ledger simLedger
	now    func() time.Time
}

// SimulatedCharge is one final decision the simulated processor made.
type SimulatedCharge struct {
	Key         string
	Decision    Decision
	AmountCents int64
	Currency    string
	// CardLast4 is all it keeps of the card; enough to tell a repeat from
	// a different charge under the same key.
	CardLast4 string
	CreatedAt time.Time
}

// simLedger is where the simulated processor remembers its decisions.
type simLedger interface {
	// remember records c under c.Key unless the key has a record already,
	// and returns the record that stands. Concurrent calls for one key
	// agree on one record.
	remember(ctx context.Context, c SimulatedCharge) (SimulatedCharge, error)
	lookup(ctx context.Context, key string) (SimulatedCharge, bool, error)
	all(ctx context.Context) ([]SimulatedCharge, error)
	Close() error
}

// errProcessorKeyReused is the processor's refusal of a key reused for a
// different charge. Payments checks this itself before calling, so it
// means a bug; it is an error (outcome unknown) rather than a decision.
var errProcessorKeyReused = errors.New("processor: idempotency key reused with different parameters")

// NewSimulatedProcessor returns a simulated processor that remembers its
// decisions in memory.
func NewSimulatedProcessor() *SimulatedProcessor {
	return &SimulatedProcessor{ledger: &memoryLedger{charges: map[string]SimulatedCharge{}}, now: time.Now}
}

// Charge implements Processor.
func (p *SimulatedProcessor) Charge(ctx context.Context, key string, card Card, amountCents int64, currency string) (Decision, error) {
	d := simulatedVerdict(card)
	if d.Outcome == Failed {
		// Nothing moved, so nothing is remembered: the next attempt under
		// key decides afresh.
		return d, nil
	}
	want := SimulatedCharge{
		Key: key, Decision: d, AmountCents: amountCents, Currency: currency, CardLast4: card.Number.Last4(),
		CreatedAt: p.now().UTC().Truncate(time.Microsecond),
	}
	got, err := p.ledger.remember(ctx, want)
	if err != nil {
		return Decision{}, fmt.Errorf("processor: %w", err)
	}
	if got.AmountCents != want.AmountCents || got.Currency != want.Currency || got.CardLast4 != want.CardLast4 {
		return Decision{}, errProcessorKeyReused
	}
	return got.Decision, nil
}

// Lookup implements Processor.
func (p *SimulatedProcessor) Lookup(ctx context.Context, key string) (Decision, bool, error) {
	c, ok, err := p.ledger.lookup(ctx, key)
	if err != nil {
		return Decision{}, false, fmt.Errorf("processor: %w", err)
	}
	return c.Decision, ok, nil
}

// Charges lists every final decision in the order made: what a processor
// dashboard shows. Tests count charges with it.
func (p *SimulatedProcessor) Charges(ctx context.Context) ([]SimulatedCharge, error) {
	return p.ledger.all(ctx)
}

// Close releases the ledger.
func (p *SimulatedProcessor) Close() error { return p.ledger.Close() }

// simulatedVerdict is the test cards' fixed outcome; any other number
// that reaches the processor is approved.
func simulatedVerdict(card Card) Decision {
	switch card.Number.Digits() {
	case TestCardDeclined:
		return Decision{Outcome: Declined, Code: CodeCardDeclined}
	case TestCardInsufficientFunds:
		return Decision{Outcome: Declined, Code: CodeInsufficientFunds}
	case TestCardProcessingError:
		return Decision{Outcome: Failed, Code: CodeProcessingError}
	}
	return Decision{Outcome: Approved}
}

// memoryLedger is the simulated processor's memory without a database.
type memoryLedger struct {
	mu      sync.Mutex
	charges map[string]SimulatedCharge
	order   []string
}

func (m *memoryLedger) remember(ctx context.Context, c SimulatedCharge) (SimulatedCharge, error) {
	if err := ctx.Err(); err != nil {
		return SimulatedCharge{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if got, ok := m.charges[c.Key]; ok {
		return got, nil
	}
	m.charges[c.Key] = c
	m.order = append(m.order, c.Key)
	return c, nil
}

func (m *memoryLedger) lookup(ctx context.Context, key string) (SimulatedCharge, bool, error) {
	if err := ctx.Err(); err != nil {
		return SimulatedCharge{}, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.charges[key]
	return c, ok, nil
}

func (m *memoryLedger) all(context.Context) ([]SimulatedCharge, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]SimulatedCharge, 0, len(m.order))
	for _, k := range slices.Clone(m.order) {
		out = append(out, m.charges[k])
	}
	return out, nil
}

func (m *memoryLedger) Close() error { return nil }
