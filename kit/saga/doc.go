// Package saga is a small, durable saga orchestrator: it drives an ordered
// list of steps, each with a forward action and an optional compensation,
// from state persisted through a Store, so that a crash at any point is
// resumed by whichever instance holds the saga's lease next.
//
// The guarantees, and what they ask of steps:
//
//   - A step is marked started, and that is persisted, before its Do runs:
//     a step that may have partly run is known, and is compensated if the
//     saga fails. Compensations must therefore be safe for effects that
//     never happened.
//   - Every transition is persisted before the next step starts. A crash
//     between a step's remote effect and the save of "done" leaves the step
//     started; on recovery the engine asks Step.Recover, or runs Do again.
//     Do must therefore be idempotent by Call.Key, which is derived from the
//     saga id and step name and so is the same on every attempt and after
//     every recovery.
//   - Retryable errors are retried with backoff inside the step's budget;
//     any other error fails the step and compensates, in reverse order,
//     every step that started. A compensation that cannot be completed
//     leaves the saga RequiresAttention, never silently dropped.
//   - A definition with Patience waits out a peer that is down: a step
//     whose retries run out on infrastructure failures parks the saga
//     (ErrParked) instead of failing it, until Patience has passed.
//   - The caller's context ending only stops driving: the saga stays as
//     persisted and is resumed later. A caller's deadline is never a
//     business failure.
//   - One engine drives a saga at a time, under a lease that it renews
//     while it works; Resume takes over sagas whose lease has expired.
//
// The package holds mechanism only; what a step does is its caller's.
package saga
