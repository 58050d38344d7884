package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	ordersv1 "github.com/kitshop/kitshop/pb/orders/v1"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages are the parsed templates: each page with the shared layout.
type pages struct{ byName map[string]*template.Template }

var funcs = template.FuncMap{
	"money":       money,
	"status":      orderStatus,
	"when":        when,
	"cancellable": cancellable,
}

func parsePages() (*pages, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, n := range names {
		if n == "templates/layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, err
		}
		p.byName[strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")] = t
	}
	return p, nil
}

// view is what every page template gets: the layout's needs, then the
// page's own Data.
type view struct {
	Title     string
	UserName  string
	LoggedIn  bool
	CSRF      string
	CartCount int64
	// Message is an error to show in the page's alert region; Notice a
	// confirmation.
	Message, Notice string
	Data            any
}

// render writes page with status. The page is executed into a buffer
// first, so a template failure is a clean error page, never half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page, title string, data any, message string) {
	sess := sessionOf(r)
	v := view{
		Title: title, UserName: sess.Name, LoggedIn: sess.Token != "", CSRF: sess.CSRF,
		CartCount: sess.Cart.count(), Message: message, Notice: r.URL.Query().Get("notice"), Data: data,
	}
	if v.Notice != "" {
		v.Notice = notices[v.Notice] // only our own texts, never the query's
	}
	t := s.pages.byName[page]
	var buf bytes.Buffer
	if t == nil {
		s.logError(r, "rendering", fmt.Errorf("no page %q", page))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := t.Execute(&buf, v); err != nil {
		s.logError(r, "rendering "+page, err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Pages carry the session's CSRF token and the user's data.
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// notices are the confirmations a redirect may ask a page to show.
var notices = map[string]string{
	"registered": "Your account is ready. Log in to shop.",
	"loggedout":  "You are logged out.",
	"added":      "Added to your cart.",
	"cancelled":  "The order is cancelled and your payment refunded.",
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, sess *session, status int, message string) {
	if sess != nil {
		r = r.WithContext(withSession(r.Context(), sess))
	}
	s.render(w, r, status, "error", http.StatusText(status), nil, message)
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusNotFound, "error", "Not found", nil, "There is no such page.")
}

// zeroDecimal lists ISO 4217 currencies without minor units.
var zeroDecimal = map[string]bool{"JPY": true, "KRW": true, "VND": true, "CLP": true, "ISK": true}

// money formats minor units: "19.99 USD".
func money(cents int64, currency string) string {
	if zeroDecimal[currency] {
		return fmt.Sprintf("%d %s", cents, currency)
	}
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, cents/100, cents%100, currency)
}

// orderStatus is API.md's spelling of a status: "CONFIRMED".
func orderStatus(s ordersv1.OrderStatus) string {
	return strings.TrimPrefix(s.String(), "ORDER_STATUS_")
}

func cancellable(s ordersv1.OrderStatus) bool {
	return s == ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED
}

func when(t *timestamppb.Timestamp) string {
	if t == nil {
		return ""
	}
	return t.AsTime().UTC().Format(time.DateTime + " UTC")
}

// staticHandler serves the embedded assets. They change only with the
// binary, so browsers may keep them an hour.
func staticHandler() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	files := http.StripPrefix(StaticPrefix, http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}
