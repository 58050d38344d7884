package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	usersv1 "github.com/kitshop/kitshop/pb/users/v1"
)

type accountData struct {
	Email, Name, Next string
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "login", "Log in", accountData{Next: safeNext(r.URL.Query().Get("next"))}, "")
}

func (s *Server) registerPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "register", "Create an account", accountData{}, "")
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	d := accountData{Email: strings.TrimSpace(r.PostFormValue("email")), Name: strings.TrimSpace(r.PostFormValue("name"))}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.PageTimeout)
	defer cancel()
	_, err := s.cfg.Users.CreateUser(ctx, &usersv1.CreateUserRequest{Email: d.Email, Name: d.Name, Password: r.PostFormValue("password")})
	if err != nil {
		s.fail(w, r, "register", "Create an account", d, err)
		return
	}
	http.Redirect(w, r, "/login?notice=registered", http.StatusSeeOther)
}

// login exchanges the credentials for an access token and seals it into
// a new session: new id and CSRF token (a session fixed before the login
// is worth nothing after it), the cart kept, expiring with the token.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	d := accountData{Email: strings.TrimSpace(r.PostFormValue("email")), Next: safeNext(r.PostFormValue("next"))}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.PageTimeout)
	defer cancel()
	resp, err := s.cfg.Users.Authenticate(ctx, &usersv1.AuthenticateRequest{Email: d.Email, Password: r.PostFormValue("password")})
	if err == nil {
		_, err = s.cfg.Verifier.Verify(ctx, resp.GetAccessToken())
	}
	if err != nil {
		s.fail(w, r, "login", "Log in", d, err)
		return
	}
	old := sessionOf(r)
	sess := newSession(s.now())
	sess.Cart, sess.Token, sess.Name = old.Cart, resp.GetAccessToken(), resp.GetUser().GetName()
	sess.Expires = s.now().Add(time.Duration(resp.GetExpiresIn()) * time.Second).Unix()
	s.saveSession(w, r, sess)
	http.Redirect(w, r, d.Next, http.StatusSeeOther)
}

// logout replaces the session with an empty anonymous one. The token
// itself stays valid until it expires (kitshop's tokens cannot be
// revoked), but this browser no longer holds it.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	s.saveSession(w, r, newSession(s.now()))
	http.Redirect(w, r, "/?notice=loggedout", http.StatusSeeOther)
}

// safeNext keeps a post-login destination on this site: a local path,
// never "//evil.example" or a URL.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if next == "" || err != nil || u.IsAbs() || u.Host != "" || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return "/"
	}
	return u.RequestURI()
}

// requireLogin redirects to the login page, coming back to r's page,
// when the session has no valid login.
func (s *Server) requireLogin(w http.ResponseWriter, r *http.Request) bool {
	if sessionOf(r).Token != "" {
		return true
	}
	next := r.URL.RequestURI()
	if r.Method != http.MethodGet {
		next = "/"
	}
	http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
	return false
}
