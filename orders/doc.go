// Package orders is coming (issue: orders and the checkout saga). It will
// become `go run ./orders`: orders placed through the checkout saga
// (ValidateUser -> ReserveInventory -> Charge -> CommitReservation, with
// compensation in reverse, state kept durably in Postgres and recovered
// after a crash), serving OrdersService (pb/orders/v1) over HTTP and gRPC,
// built like users/, products/ and payments/. Nothing is implemented yet.
package orders
