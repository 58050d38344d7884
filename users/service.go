package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/typed"
	"github.com/kitshop/kitshop/kit/valid"
	"github.com/kitshop/kitshop/users/client"
)

// Service manages accounts and issues access tokens.
//
// Methods that act for somebody read the caller from the context
// (auth.ClaimsFrom): the transports put verified JWT claims there.
type Service interface {
	// Register creates a customer account. ErrEmailTaken if the email
	// (compared case-insensitively) is in use.
	Register(ctx context.Context, in NewUser) (User, error)
	// Login checks credentials and issues a token. An unknown email and a
	// wrong password give the same ErrInvalidCredentials in about the same
	// time; a disabled account gives ErrUserDisabled.
	Login(ctx context.Context, email, password string) (Session, error)
	// Get returns a user to that user or to an admin: ErrForbidden for
	// anybody else, ErrNotFound when there is no such user. An empty id
	// means the caller.
	Get(ctx context.Context, id string) (User, error)
	// Update changes the fields set in in; the rules of Get apply.
	// Changing the password needs the current one.
	Update(ctx context.Context, in UserUpdate) (User, error)
	// Validate confirms, for other services, that a user exists and may
	// act: ErrNotFound or ErrUserDisabled otherwise.
	Validate(ctx context.Context, id string) (User, error)
	// EnsureAdmin creates an admin with these credentials, or promotes the
	// existing account and resets its password. For start-up bootstrap.
	EnsureAdmin(ctx context.Context, email, password string) (User, error)
	// JWKS is the public key set that verifies the tokens Login issues.
	JWKS() auth.JWKS
}

// Domain errors. Their reasons are part of the public API and declared
// once, in users/client, where callers find them.
var (
	ErrEmailTaken         = errs.New(errs.AlreadyExists, client.ReasonEmailTaken, "email is already registered")
	ErrInvalidCredentials = errs.New(errs.Unauthenticated, client.ReasonInvalidCredentials, "invalid email or password")
	ErrUserDisabled       = errs.New(errs.PermissionDenied, client.ReasonUserDisabled, "user is disabled")
	ErrNotFound           = errs.New(errs.NotFound, client.ReasonUserNotFound, "user not found")
	ErrForbidden          = errs.New(errs.PermissionDenied, errs.ReasonForbidden, "not allowed to access this user")
)

// Address is a postal address; Country is ISO 3166-1 alpha-2. Its JSON
// names are the Postgres store's column format (an address is kept as one
// JSON value), not the API's: users/client maps the API.
type Address struct {
	Line1      string `json:"line1"`
	Line2      string `json:"line2"`
	City       string `json:"city"`
	State      string `json:"state"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// User is an account. PasswordHash and Disabled never leave the service:
// they have no pb field, so no transport can show them.
type User struct {
	ID           string
	Email        string
	Name         string
	Role         string
	Address      *Address
	Disabled     bool
	PasswordHash []byte
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// NewUser is a registration request.
type NewUser struct {
	Email    string
	Password string
	Name     string
	Address  *Address
}

// UserUpdate changes the non-nil fields of user ID (empty: the caller).
type UserUpdate struct {
	ID              string
	Name            *string
	Address         *Address
	ClearAddress    bool
	Password        *string
	CurrentPassword *string
}

// Credentials is a login request.
type Credentials struct {
	Email    string
	Password string
}

// Session is what a successful login returns.
type Session struct {
	AccessToken string
	TokenType   string
	ExpiresIn   int64
	User        User
}

// Options tune the service; zero values take the defaults.
type Options struct {
	TokenTTL   time.Duration // default 1h
	BcryptCost int           // default bcrypt.DefaultCost
	Now        func() time.Time
}

type service struct {
	store      Store
	key        ed25519.PrivateKey
	kid        string
	ttl        time.Duration
	cost       int
	now        func() time.Time
	dummyHash  []byte
	publicJWKS auth.JWKS
}

// NewService returns the users service. key signs access tokens.
func NewService(store Store, key ed25519.PrivateKey, opt Options) (Service, error) {
	if opt.TokenTTL <= 0 {
		opt.TokenTTL = time.Hour
	}
	if opt.BcryptCost == 0 {
		opt.BcryptCost = bcrypt.DefaultCost
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	// Login hashes against this when the email is unknown, so both
	// failures cost one bcrypt comparison and cannot be told apart by time.
	dummy, err := bcrypt.GenerateFromPassword([]byte("kitshop-timing-equalizer"), opt.BcryptCost)
	if err != nil {
		return nil, err
	}
	pub, err := typed.Cast[ed25519.PublicKey](key.Public())
	if err != nil {
		return nil, err
	}
	jwk := auth.PublicJWK(pub)
	return &service{
		store: store, key: key, kid: jwk.Kid, ttl: opt.TokenTTL, cost: opt.BcryptCost,
		now: opt.Now, dummyHash: dummy, publicJWKS: auth.JWKS{Keys: []auth.JWK{jwk}},
	}, nil
}

func (s *service) Register(ctx context.Context, in NewUser) (User, error) {
	in.Email = normalizeEmail(in.Email)
	in.Name = strings.TrimSpace(in.Name)
	var v errs.Validation
	validateEmail(&v, in.Email)
	validatePassword(&v, "password", in.Password)
	validateName(&v, in.Name)
	validateAddress(&v, in.Address)
	if err := v.Err(); err != nil {
		return User{}, err
	}
	return s.create(ctx, in, auth.RoleCustomer)
}

func (s *service) create(ctx context.Context, in NewUser, role string) (User, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(in.Password), s.cost)
	if err != nil {
		return User{}, errs.Internalf(err, "hash password")
	}
	now := s.timestamp()
	u := User{
		ID: uuid.NewString(), Email: in.Email, Name: in.Name, Role: role,
		Address: in.Address, PasswordHash: hash, CreatedAt: now, UpdatedAt: now,
	}
	if err := s.store.Create(ctx, u); err != nil {
		return User{}, err
	}
	return u, nil
}

func (s *service) Login(ctx context.Context, email, password string) (Session, error) {
	u, err := s.store.GetByEmail(ctx, normalizeEmail(email))
	switch {
	case errors.Is(err, ErrNotFound):
		_ = bcrypt.CompareHashAndPassword(s.dummyHash, []byte(password))
		return Session{}, ErrInvalidCredentials
	case err != nil:
		return Session{}, err
	}
	if bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(password)) != nil {
		return Session{}, ErrInvalidCredentials
	}
	if u.Disabled {
		return Session{}, ErrUserDisabled
	}
	token, err := s.issue(u)
	if err != nil {
		return Session{}, err
	}
	return Session{AccessToken: token, TokenType: "Bearer", ExpiresIn: int64(s.ttl / time.Second), User: u}, nil
}

func (s *service) issue(u User) (string, error) {
	now := s.now()
	claims := auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   u.ID,
			Issuer:    auth.Issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(s.ttl)),
			ID:        uuid.NewString(),
		},
		Role: u.Role,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = s.kid
	signed, err := t.SignedString(s.key)
	if err != nil {
		return "", errs.Internalf(err, "sign token")
	}
	return signed, nil
}

// authorize resolves id ("" = the caller) and checks self-or-admin.
func authorize(ctx context.Context, id string) (string, error) {
	c, err := auth.RequireUser(ctx)
	if err != nil {
		return "", err
	}
	if id == "" || id == "me" {
		return c.Subject, nil
	}
	id, err = canonicalID(id)
	if err != nil {
		return "", err
	}
	if id != c.Subject && c.Role != auth.RoleAdmin {
		return "", ErrForbidden
	}
	return id, nil
}

func (s *service) Get(ctx context.Context, id string) (User, error) {
	id, err := authorize(ctx, id)
	if err != nil {
		return User{}, err
	}
	return s.store.Get(ctx, id)
}

func (s *service) Update(ctx context.Context, in UserUpdate) (User, error) {
	id, err := authorize(ctx, in.ID)
	if err != nil {
		return User{}, err
	}
	var v errs.Validation
	if in.Name != nil {
		*in.Name = strings.TrimSpace(*in.Name)
		validateName(&v, *in.Name)
	}
	validateAddress(&v, in.Address)
	v.Check(!(in.ClearAddress && in.Address != nil), "address", "cannot both set and clear the address")
	if in.Password != nil {
		validatePassword(&v, "password", *in.Password)
		v.Check(in.CurrentPassword != nil && *in.CurrentPassword != "", "current_password", "is required to change the password")
	}
	if err := v.Err(); err != nil {
		return User{}, err
	}
	var newHash []byte
	if in.Password != nil {
		// Hash outside the store's transaction: bcrypt is slow and must not
		// hold a row lock.
		if newHash, err = bcrypt.GenerateFromPassword([]byte(*in.Password), s.cost); err != nil {
			return User{}, errs.Internalf(err, "hash password")
		}
	}
	return s.store.Update(ctx, id, func(u *User) error {
		if in.Password != nil {
			if bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(*in.CurrentPassword)) != nil {
				return errs.Invalid(errs.FieldViolation{Field: "current_password", Message: "is not correct"})
			}
			u.PasswordHash = newHash
		}
		if in.Name != nil {
			u.Name = *in.Name
		}
		if in.Address != nil {
			u.Address = in.Address
		}
		if in.ClearAddress {
			u.Address = nil
		}
		u.UpdatedAt = s.timestamp()
		return nil
	})
}

func (s *service) Validate(ctx context.Context, id string) (User, error) {
	id, err := canonicalID(id)
	if err != nil {
		return User{}, err
	}
	u, err := s.store.Get(ctx, id)
	if err != nil {
		return User{}, err
	}
	if u.Disabled {
		return User{}, ErrUserDisabled
	}
	return u, nil
}

func (s *service) EnsureAdmin(ctx context.Context, email, password string) (User, error) {
	email = normalizeEmail(email)
	var v errs.Validation
	validateEmail(&v, email)
	validatePassword(&v, "password", password)
	if err := v.Err(); err != nil {
		return User{}, err
	}
	// Two instances may bootstrap at once: whoever loses the create race
	// promotes the winner's row instead.
	for attempt := 0; attempt < 2; attempt++ {
		existing, err := s.store.GetByEmail(ctx, email)
		if errors.Is(err, ErrNotFound) {
			u, err := s.create(ctx, NewUser{Email: email, Password: password, Name: "Administrator"}, auth.RoleAdmin)
			if errors.Is(err, ErrEmailTaken) {
				continue
			}
			return u, err
		}
		if err != nil {
			return User{}, err
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
		if err != nil {
			return User{}, errs.Internalf(err, "hash password")
		}
		return s.store.Update(ctx, existing.ID, func(u *User) error {
			u.Role, u.PasswordHash, u.Disabled, u.UpdatedAt = auth.RoleAdmin, hash, false, s.timestamp()
			return nil
		})
	}
	return User{}, errs.Internalf(errors.New("email kept vanishing"), "bootstrap admin")
}

func (s *service) JWKS() auth.JWKS { return s.publicJWKS }

// timestamp is now at the precision Postgres keeps, so a user reads the
// same from either store.
func (s *service) timestamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// canonicalID refuses malformed ids before they reach the store (a
// client's typo is InvalidArgument; NotFound is for well-formed ids nobody
// has) and spells the others one way (kit/valid), so "ABC…" and "abc…"
// are one user in every store and in the self-or-admin check.
func canonicalID(id string) (string, error) {
	var v errs.Validation
	id = valid.ID(&v, "id", id)
	return id, v.Err()
}

func normalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

func validateEmail(v *errs.Validation, email string) {
	a, err := mail.ParseAddress(email)
	v.Check(err == nil && a.Address == email && len(email) <= 254, "email", "must be a valid email address")
}

func validatePassword(v *errs.Validation, field, p string) {
	v.Check(utf8.RuneCountInString(p) >= 8, field, "must be at least 8 characters")
	// bcrypt ignores everything past 72 bytes; refusing is more honest
	// than silently truncating.
	v.Check(len(p) <= 72, field, "must be at most 72 bytes")
}

func validateName(v *errs.Validation, name string) {
	v.Check(name != "", "name", "is required")
	v.Check(utf8.RuneCountInString(name) <= 200, "name", "must be at most 200 characters")
	valid.SingleLine(v, "name", name)
}

func validateAddress(v *errs.Validation, a *Address) {
	if a == nil {
		return
	}
	a.Country = strings.ToUpper(strings.TrimSpace(a.Country))
	v.Check(strings.TrimSpace(a.Line1) != "", "address.line1", "is required")
	v.Check(strings.TrimSpace(a.City) != "", "address.city", "is required")
	v.Check(strings.TrimSpace(a.PostalCode) != "", "address.postal_code", "is required")
	v.Check(len(a.Country) == 2 && isUpperAlpha(a.Country), "address.country", "must be an ISO 3166-1 alpha-2 code")
	for _, f := range []struct{ name, val string }{
		{"address.line1", a.Line1}, {"address.line2", a.Line2}, {"address.city", a.City},
		{"address.state", a.State}, {"address.postal_code", a.PostalCode},
	} {
		v.Check(utf8.RuneCountInString(f.val) <= 200, f.name, "must be at most 200 characters")
		valid.SingleLine(v, f.name, f.val)
	}
}

func isUpperAlpha(s string) bool {
	for _, r := range s {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}
