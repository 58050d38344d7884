package client

// Reasons the users service returns, beyond those every service shares
// (kit/errs: VALIDATION_FAILED, UNAUTHENTICATED, PERMISSION_DENIED, ...;
// kit/httpx: MALFORMED_JSON, UNKNOWN_FIELD, ...). They are the `code` of
// a problem document and the reason of a gRPC ErrorInfo, part of the
// public API: the service declares its errors with these, and callers
// compare with these, never with a literal.
//
// This file imports nothing, so reading the codes costs a caller nothing.
const (
	// ReasonEmailTaken: CreateUser with an email (compared
	// case-insensitively) that an account already has. 409.
	ReasonEmailTaken = "EMAIL_TAKEN"
	// ReasonInvalidCredentials: Authenticate with an unknown email or a
	// wrong password; the two are deliberately indistinguishable. 401.
	ReasonInvalidCredentials = "INVALID_CREDENTIALS"
	// ReasonUserDisabled: the account exists but may not log in or act
	// (Authenticate, ValidateUser). 403.
	ReasonUserDisabled = "USER_DISABLED"
	// ReasonUserNotFound: no user has this (well-formed) id. 404.
	ReasonUserNotFound = "USER_NOT_FOUND"
)

// Reasons lists the codes above, for tests that check a service declares
// nothing else and for documentation generators.
func Reasons() []string {
	return []string{ReasonEmailTaken, ReasonInvalidCredentials, ReasonUserDisabled, ReasonUserNotFound}
}
