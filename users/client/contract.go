package client

import (
	"net/http"
	"strings"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/rest/contract"
)

// RunContract checks that baseURL (a users instance's HTTP port, or the
// gateway) keeps the Users part of API.md. It creates accounts with
// unique emails, so it may run against a server that keeps its data; the
// server must have the bootstrap admin adminEmail/adminPassword
// (KITSHOP_ADMIN_EMAIL, KITSHOP_ADMIN_PASSWORD).
// opts (contract.WithClient) choose how the requests are sent, e.g. with
// a client that trusts the gateway's CA.
func RunContract(t contract.T, baseURL, adminEmail, adminPassword string, opts ...contract.Option) {
	t.Helper()
	contract.Run(t, baseURL, ContractCases(), contract.Vars{"admin_email": adminEmail, "admin_password": adminPassword}, opts...)
}

// ContractCases are the Users promises of API.md, in order: later cases
// use the accounts and tokens earlier ones made. They need the variables
// admin_email and admin_password.
func ContractCases() []contract.Case {
	const json = "application/json"
	addr := `{"line1":"1 Main St","line2":"","city":"Paris","state":"","postal_code":"75001","country":"FR"}`
	return []contract.Case{
		// Registration.
		{Name: "register", Method: http.MethodPost, Path: "/api/v1/users",
			Body:   `{"email":"ada-{run}@example.com","password":"correct horse","name":"Ada"}`,
			Status: http.StatusCreated, Shape: userShape("ada-{run}@example.com", "customer", contract.Null()),
			Capture: map[string]string{"ada_id": "id"}, Headers: map[string]string{"Location": "/api/v1/users/{ada_id}"}},
		{Name: "email taken, in any case", Method: http.MethodPost, Path: "/api/v1/users",
			Body:   `{"email":"ADA-{run}@example.com","password":"another one","name":"Eve"}`,
			Status: http.StatusConflict, Problem: ReasonEmailTaken},
		{Name: "validation", Method: http.MethodPost, Path: "/api/v1/users",
			Body:   `{"email":"nope","password":"short","name":""}`,
			Status: http.StatusBadRequest, Problem: errs.ReasonValidation},
		{Name: "unknown member", Method: http.MethodPost, Path: "/api/v1/users",
			Body:   `{"email":"x-{run}@example.com","password":"correct horse","name":"X","admin":true}`,
			Status: http.StatusBadRequest, Problem: httpx.ReasonUnknownField},
		{Name: "names match exactly", Method: http.MethodPost, Path: "/api/v1/users",
			Body:   `{"EMAIL":"x-{run}@example.com","password":"correct horse","name":"X"}`,
			Status: http.StatusBadRequest, Problem: httpx.ReasonUnknownField},
		{Name: "duplicate member", Method: http.MethodPost, Path: "/api/v1/users",
			Body:   `{"email":"x-{run}@example.com","email":"y-{run}@example.com","password":"correct horse","name":"X"}`,
			Status: http.StatusBadRequest, Problem: httpx.ReasonMalformedJSON},
		{Name: "malformed", Method: http.MethodPost, Path: "/api/v1/users", Body: `{"email":`,
			Status: http.StatusBadRequest, Problem: httpx.ReasonMalformedJSON},
		{Name: "wrong type", Method: http.MethodPost, Path: "/api/v1/users", Body: `{"email":5}`,
			Status: http.StatusBadRequest, Problem: httpx.ReasonMalformedJSON},
		{Name: "wrong content type", Method: http.MethodPost, Path: "/api/v1/users", Body: `{}`,
			Header: map[string]string{"Content-Type": "text/plain"},
			Status: http.StatusUnsupportedMediaType, Problem: httpx.ReasonUnsupportedMediaType},
		{Name: "body over 1 MiB", Method: http.MethodPost, Path: "/api/v1/users",
			Body:   `{"name":"` + strings.Repeat("x", httpx.MaxBodyBytes) + `"}`,
			Status: http.StatusRequestEntityTooLarge, Problem: httpx.ReasonBodyTooLarge},

		// Login.
		{Name: "login", Method: http.MethodPost, Path: "/api/v1/auth/login",
			Body:   `{"email":"ada-{run}@example.com","password":"correct horse"}`,
			Status: http.StatusOK, Shape: sessionShape("ada-{run}@example.com", "customer"),
			Capture: map[string]string{"ada_token": "access_token"}, Headers: map[string]string{"Cache-Control": "no-store"}},
		{Name: "wrong password", Method: http.MethodPost, Path: "/api/v1/auth/login",
			Body:   `{"email":"ada-{run}@example.com","password":"wrong password"}`,
			Status: http.StatusUnauthorized, Problem: ReasonInvalidCredentials},
		{Name: "unknown email", Method: http.MethodPost, Path: "/api/v1/auth/login",
			Body:   `{"email":"nobody-{run}@example.com","password":"correct horse"}`,
			Status: http.StatusUnauthorized, Problem: ReasonInvalidCredentials},

		// The caller's own profile.
		{Name: "me without a token", Method: http.MethodGet, Path: "/api/v1/users/me",
			Status: http.StatusUnauthorized, Problem: errs.ReasonUnauth},
		{Name: "me", Method: http.MethodGet, Path: "/api/v1/users/me", Token: "ada_token",
			Status: http.StatusOK, Shape: userShape("ada-{run}@example.com", "customer", contract.Null())},
		{Name: "patch name and address", Method: http.MethodPatch, Path: "/api/v1/users/me", Token: "ada_token",
			Body:   `{"name":"Ada L","address":` + addr + `}`,
			Status: http.StatusOK, Shape: userShape("ada-{run}@example.com", "customer", addressShape())},
		{Name: "absent address is kept", Method: http.MethodPatch, Path: "/api/v1/users/me", Token: "ada_token",
			Body:   `{"name":"Ada"}`,
			Status: http.StatusOK, Shape: userShape("ada-{run}@example.com", "customer", addressShape())},
		{Name: "null address is removed", Method: http.MethodPatch, Path: "/api/v1/users/me", Token: "ada_token",
			Body:   `{"address":null}`,
			Status: http.StatusOK, Shape: userShape("ada-{run}@example.com", "customer", contract.Null())},
		{Name: "new password needs the current one", Method: http.MethodPatch, Path: "/api/v1/users/me", Token: "ada_token",
			Body:   `{"password":"new password"}`,
			Status: http.StatusBadRequest, Problem: errs.ReasonValidation},
		{Name: "no id in the body", Method: http.MethodPatch, Path: "/api/v1/users/me", Token: "ada_token",
			Body:   `{"id":"{ada_id}","name":"X"}`,
			Status: http.StatusBadRequest, Problem: httpx.ReasonUnknownField},
		{Name: "clear_address is not an API member", Method: http.MethodPatch, Path: "/api/v1/users/me", Token: "ada_token",
			Body:   `{"clear_address":true}`,
			Status: http.StatusBadRequest, Problem: httpx.ReasonUnknownField},
		{Name: "patch without a token", Method: http.MethodPatch, Path: "/api/v1/users/me", Body: `{"name":"X"}`,
			Status: http.StatusUnauthorized, Problem: errs.ReasonUnauth},

		// Other users: self or admin.
		{Name: "register eve", Method: http.MethodPost, Path: "/api/v1/users",
			Body:   `{"email":"eve-{run}@example.com","password":"correct horse","name":"Eve"}`,
			Status: http.StatusCreated, Capture: map[string]string{"eve_id": "id"}},
		{Name: "login eve", Method: http.MethodPost, Path: "/api/v1/auth/login",
			Body:   `{"email":"eve-{run}@example.com","password":"correct horse"}`,
			Status: http.StatusOK, Capture: map[string]string{"eve_token": "access_token"}},
		{Name: "self by id", Method: http.MethodGet, Path: "/api/v1/users/{ada_id}", Token: "ada_token",
			Status: http.StatusOK, Shape: userShape("ada-{run}@example.com", "customer", contract.Null())},
		{Name: "someone else", Method: http.MethodGet, Path: "/api/v1/users/{ada_id}", Token: "eve_token",
			Status: http.StatusForbidden, Problem: errs.ReasonForbidden},
		{Name: "login admin", Method: http.MethodPost, Path: "/api/v1/auth/login",
			Body:   `{"email":"{admin_email}","password":"{admin_password}"}`,
			Status: http.StatusOK, Shape: sessionShape("{admin_email}", "admin"),
			Capture: map[string]string{"admin_token": "access_token"}},
		{Name: "admin reads anyone", Method: http.MethodGet, Path: "/api/v1/users/{eve_id}", Token: "admin_token",
			Status: http.StatusOK, Shape: userShape("eve-{run}@example.com", "customer", contract.Null())},
		{Name: "no such user", Method: http.MethodGet, Path: "/api/v1/users/6f1c1a52-7d4c-4c59-9a55-2f0f2f2f2f2f", Token: "admin_token",
			Status: http.StatusNotFound, Problem: ReasonUserNotFound},
		{Name: "malformed id", Method: http.MethodGet, Path: "/api/v1/users/not-a-uuid", Token: "admin_token",
			Status: http.StatusBadRequest, Problem: errs.ReasonValidation},

		// Routing.
		{Name: "unknown route", Method: http.MethodGet, Path: "/api/v1/nowhere",
			Status: http.StatusNotFound, Problem: httpx.ReasonRouteNotFound},
		{Name: "wrong method", Method: http.MethodDelete, Path: "/api/v1/users/me", Token: "ada_token",
			Status: http.StatusMethodNotAllowed, Problem: httpx.ReasonMethodNotAllowed,
			Headers: map[string]string{"Allow": "GET, PATCH"}},
		{Name: "JSON with a charset", Method: http.MethodPost, Path: "/api/v1/auth/login",
			Header: map[string]string{"Content-Type": json + "; charset=utf-8"},
			Body:   `{"email":"ada-{run}@example.com","password":"correct horse"}`,
			Status: http.StatusOK},
	}
}

// userShape is API.md's User: exactly these members, never a password
// or its hash.
func userShape(email, role string, address contract.Matcher) contract.Matcher {
	return contract.Object(map[string]contract.Matcher{
		"id": contract.UUID(), "email": contract.Equal(email), "name": contract.NonEmpty(),
		"role": contract.Equal(role), "address": address,
		"created_at": contract.Time(), "updated_at": contract.Time(),
	})
}

func addressShape() contract.Matcher {
	return contract.Object(map[string]contract.Matcher{
		"line1": contract.Equal("1 Main St"), "line2": contract.String(), "city": contract.Equal("Paris"),
		"state": contract.String(), "postal_code": contract.Equal("75001"), "country": contract.Equal("FR"),
	})
}

// sessionShape is the login answer. The user's address is not checked:
// an admin on a long-lived server may have one.
func sessionShape(email, role string) contract.Matcher {
	anyAddress := contract.Object(map[string]contract.Matcher{
		"line1": contract.String(), "line2": contract.String(), "city": contract.String(),
		"state": contract.String(), "postal_code": contract.String(), "country": contract.String(),
	})
	return contract.Object(map[string]contract.Matcher{
		"access_token": contract.NonEmpty(), "token_type": contract.Equal("Bearer"),
		"expires_in": contract.Int(), "user": userShape(email, role, contract.Nullable(anyAddress)),
	})
}
