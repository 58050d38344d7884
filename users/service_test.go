package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
)

type fixture struct {
	svc      Service
	store    Store
	verifier *auth.Verifier
	now      time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: newMemoryStore(), now: time.Now()}
	f.svc, err = NewService(f.store, key, Options{BcryptCost: bcrypt.MinCost, Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.verifier = auth.NewVerifier(auth.StaticKeys(pub))
	return f
}

func (f *fixture) register(t *testing.T, email string) User {
	t.Helper()
	u, err := f.svc.Register(context.Background(), NewUser{Email: email, Password: "correct horse", Name: "Ada"})
	if err != nil {
		t.Fatalf("register %s: %v", email, err)
	}
	return u
}

// as returns a context carrying the claims of the token that logging in as
// email yields, exactly as a transport would build it.
func (f *fixture) as(t *testing.T, email string) context.Context {
	t.Helper()
	s, err := f.svc.Login(context.Background(), email, "correct horse")
	if err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	c, err := f.verifier.Verify(context.Background(), s.AccessToken)
	if err != nil {
		t.Fatalf("verify token: %v", err)
	}
	return auth.WithClaims(context.Background(), c)
}

func TestRegisterValidates(t *testing.T) {
	f := newFixture(t)
	_, err := f.svc.Register(context.Background(), NewUser{Email: "not-an-email", Password: "short", Address: &Address{Country: "usa"}})
	kittest.WantErr(t, err, errs.InvalidArgument, errs.ReasonValidation)
	fields := map[string]bool{}
	for _, fv := range errs.As(err).Fields {
		fields[fv.Field] = true
	}
	for _, want := range []string{"email", "password", "name", "address.line1", "address.country"} {
		if !fields[want] {
			t.Errorf("no violation for %s in %v", want, errs.As(err).Fields)
		}
	}
}

func TestRegisterNormalizesEmailAndRejectsDuplicates(t *testing.T) {
	f := newFixture(t)
	u := f.register(t, "  Ada@Example.COM ")
	if u.Email != "ada@example.com" || u.Role != auth.RoleCustomer || len(u.PasswordHash) == 0 {
		t.Fatalf("registered %+v", u)
	}
	_, err := f.svc.Register(context.Background(), NewUser{Email: "ADA@example.com", Password: "another pass", Name: "Eve"})
	kittest.WantErr(t, err, errs.AlreadyExists, "EMAIL_TAKEN")
}

func TestLoginIssuesVerifiableToken(t *testing.T) {
	f := newFixture(t)
	u := f.register(t, "ada@example.com")
	s, err := f.svc.Login(context.Background(), "ADA@example.com", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if s.TokenType != "Bearer" || s.ExpiresIn != 3600 || s.User.ID != u.ID {
		t.Fatalf("session %+v", s)
	}
	c, err := f.verifier.Verify(context.Background(), s.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != u.ID || c.Role != auth.RoleCustomer || c.Issuer != auth.Issuer {
		t.Fatalf("claims %+v", c)
	}
	if got := c.ExpiresAt.Sub(c.IssuedAt.Time); got != time.Hour {
		t.Fatalf("token lifetime %v, want 1h", got)
	}
	tok, _, _ := jwt.NewParser().ParseUnverified(s.AccessToken, &auth.Claims{})
	if tok.Method.Alg() != "EdDSA" || tok.Header["kid"] != f.svc.JWKS().Keys[0].Kid {
		t.Fatalf("header %v", tok.Header)
	}
}

func TestLoginFailuresLookAlike(t *testing.T) {
	f := newFixture(t)
	f.register(t, "ada@example.com")
	_, wrongPassword := f.svc.Login(context.Background(), "ada@example.com", "wrong password")
	_, unknownEmail := f.svc.Login(context.Background(), "nobody@example.com", "correct horse")
	kittest.WantErr(t, wrongPassword, errs.Unauthenticated, "INVALID_CREDENTIALS")
	kittest.WantErr(t, unknownEmail, errs.Unauthenticated, "INVALID_CREDENTIALS")
	if wrongPassword.Error() != unknownEmail.Error() {
		t.Fatalf("the two failures differ: %q vs %q", wrongPassword, unknownEmail)
	}
}

func TestLoginTimingDoesNotRevealUnknownEmails(t *testing.T) {
	// Real cost, so a missing bcrypt comparison would show: with cost 10 one
	// comparison is tens of milliseconds, an absent one microseconds.
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	_ = pub
	svc, err := NewService(newMemoryStore(), key, Options{BcryptCost: bcrypt.DefaultCost})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Register(context.Background(), NewUser{Email: "ada@example.com", Password: "correct horse", Name: "Ada"}); err != nil {
		t.Fatal(err)
	}
	measure := func(email string) time.Duration {
		best := time.Hour
		for i := 0; i < 3; i++ {
			start := time.Now()
			_, _ = svc.Login(context.Background(), email, "wrong password")
			best = min(best, time.Since(start))
		}
		return best
	}
	known, unknown := measure("ada@example.com"), measure("nobody@example.com")
	// A generous band: the point is the order of magnitude, not jitter.
	if unknown < known/3 || known < unknown/3 {
		t.Fatalf("login timing differs: known email %v, unknown email %v", known, unknown)
	}
}

func TestDisabledUserCannotLogIn(t *testing.T) {
	f := newFixture(t)
	u := f.register(t, "ada@example.com")
	if _, err := f.store.Update(context.Background(), u.ID, func(u *User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.Login(context.Background(), "ada@example.com", "correct horse")
	kittest.WantErr(t, err, errs.PermissionDenied, "USER_DISABLED")
	_, err = f.svc.Validate(context.Background(), u.ID)
	kittest.WantErr(t, err, errs.PermissionDenied, "USER_DISABLED")
	// A wrong password on a disabled account must not reveal that it exists.
	_, err = f.svc.Login(context.Background(), "ada@example.com", "wrong password")
	kittest.WantErr(t, err, errs.Unauthenticated, "INVALID_CREDENTIALS")
}

func TestGetIsSelfOrAdmin(t *testing.T) {
	f := newFixture(t)
	ada := f.register(t, "ada@example.com")
	eve := f.register(t, "eve@example.com")
	admin, err := f.svc.EnsureAdmin(context.Background(), "root@example.com", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if admin.Role != auth.RoleAdmin {
		t.Fatalf("admin role %q", admin.Role)
	}

	if got, err := f.svc.Get(f.as(t, "ada@example.com"), ""); err != nil || got.ID != ada.ID {
		t.Fatalf("me = %+v, %v", got, err)
	}
	_, err = f.svc.Get(f.as(t, "eve@example.com"), ada.ID)
	kittest.WantErr(t, err, errs.PermissionDenied, errs.ReasonForbidden)
	if got, err := f.svc.Get(f.as(t, "root@example.com"), eve.ID); err != nil || got.ID != eve.ID {
		t.Fatalf("admin get = %+v, %v", got, err)
	}
	_, err = f.svc.Get(f.as(t, "root@example.com"), "2b1c0c1e-0000-4000-8000-000000000000")
	kittest.WantErr(t, err, errs.NotFound, "USER_NOT_FOUND")
	_, err = f.svc.Get(context.Background(), ada.ID)
	kittest.WantErr(t, err, errs.Unauthenticated, errs.ReasonUnauth)
}

func TestUpdateProfileAndPassword(t *testing.T) {
	f := newFixture(t)
	f.register(t, "ada@example.com")
	ctx := f.as(t, "ada@example.com")
	name := "Ada Lovelace"
	addr := &Address{Line1: "12 St James's Sq", City: "London", PostalCode: "SW1Y 4JH", Country: "gb"}
	u, err := f.svc.Update(ctx, UserUpdate{Name: &name, Address: addr})
	if err != nil || u.Name != name || u.Address == nil || u.Address.Country != "GB" {
		t.Fatalf("update = %+v, %v", u, err)
	}

	newPass := "new password"
	_, err = f.svc.Update(ctx, UserUpdate{Password: &newPass})
	kittest.WantErr(t, err, errs.InvalidArgument, errs.ReasonValidation)
	wrong := "not my password"
	_, err = f.svc.Update(ctx, UserUpdate{Password: &newPass, CurrentPassword: &wrong})
	kittest.WantErr(t, err, errs.InvalidArgument, errs.ReasonValidation)

	current := "correct horse"
	if _, err := f.svc.Update(ctx, UserUpdate{Password: &newPass, CurrentPassword: &current}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Login(context.Background(), "ada@example.com", newPass); err != nil {
		t.Fatalf("login with new password: %v", err)
	}
	u, err = f.svc.Update(ctx, UserUpdate{ClearAddress: true})
	if err != nil || u.Address != nil {
		t.Fatalf("clear address = %+v, %v", u, err)
	}
}

func TestEnsureAdminPromotesExistingAccount(t *testing.T) {
	f := newFixture(t)
	u := f.register(t, "boss@example.com")
	admin, err := f.svc.EnsureAdmin(context.Background(), "BOSS@example.com", "brand new password")
	if err != nil {
		t.Fatal(err)
	}
	if admin.ID != u.ID || admin.Role != auth.RoleAdmin {
		t.Fatalf("promoted %+v", admin)
	}
	if _, err := f.svc.Login(context.Background(), "boss@example.com", "brand new password"); err != nil {
		t.Fatalf("bootstrap password not set: %v", err)
	}
}

func TestValidate(t *testing.T) {
	f := newFixture(t)
	u := f.register(t, "ada@example.com")
	if got, err := f.svc.Validate(context.Background(), u.ID); err != nil || got.ID != u.ID {
		t.Fatalf("validate = %+v, %v", got, err)
	}
	_, err := f.svc.Validate(context.Background(), "not-a-uuid")
	kittest.WantErr(t, err, errs.InvalidArgument, errs.ReasonValidation)
	_, err = f.svc.Validate(context.Background(), "6f1c1a52-7d4c-4c59-9a55-2f0f2f2f2f2f")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("validate unknown id: %v", err)
	}
}
