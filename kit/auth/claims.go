// Package auth verifies kitshop's access tokens: JWTs signed by the users
// service with Ed25519 (EdDSA), carrying the user id (sub) and a role.
// Issuing tokens is the users service's business; verification, key
// distribution (JWKS) and propagation through HTTP and gRPC are shared
// here, so the gateway and every service apply the same rules.
package auth

import (
	"github.com/golang-jwt/jwt/v5"
)

// Issuer is the iss every kitshop token carries.
const Issuer = "kitshop-users"

// Roles a token may carry. A token with any other role is rejected, so a
// role added later cannot be mistaken for an existing one by an old
// verifier.
const (
	RoleCustomer = "customer"
	RoleAdmin    = "admin"
)

// Claims are the claims of a kitshop access token.
type Claims struct {
	jwt.RegisteredClaims
	Role string `json:"role"`
}

// UserID is the authenticated user's id (the sub claim).
func (c Claims) UserID() string { return c.Subject }

// IsAdmin reports whether the token grants the admin role.
func (c Claims) IsAdmin() bool { return c.Role == RoleAdmin }

// ValidRole reports whether role is one this version knows.
func ValidRole(role string) bool { return role == RoleCustomer || role == RoleAdmin }
