package web

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/errs"
	ordersclient "github.com/kitshop/kitshop/orders/client"
	ordersv1 "github.com/kitshop/kitshop/pb/orders/v1"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
	usersv1 "github.com/kitshop/kitshop/pb/users/v1"
	productsclient "github.com/kitshop/kitshop/products/client"
)

const (
	productID = "9b1d2e3f-0a1b-4c2d-8e3f-405162738495"
	orderID   = "1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5"
	userID    = "7f0e1d2c-3b4a-4958-8776-655443322110"
)

// fakes is every backend the storefront calls, in memory: the pages'
// logic is under test here, the clients have tests of their own and the
// real processes are ops/e2e's.
type fakes struct {
	issuer *authtest.Issuer
	token  string
	mu     sync.Mutex
	// createErr, when set, is CreateOrder's answer.
	createErr error
	// tokensSeen are the tokens backend calls carried.
	tokensSeen []string
	// stock feeds WatchStock streams; orders WatchOrder streams.
	stock  chan *productsv1.StockLevel
	orders chan *ordersv1.Order
	// watchErr, when set, ends the next WatchOrder stream at once.
	watchErr error
}

func (f *fakes) saw(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokensSeen = append(f.tokensSeen, auth.TokenFrom(ctx))
}

func (f *fakes) CreateUser(_ context.Context, r *usersv1.CreateUserRequest) (*usersv1.User, error) {
	return &usersv1.User{Id: userID, Email: r.GetEmail(), Name: r.GetName()}, nil
}

func (f *fakes) Authenticate(_ context.Context, r *usersv1.AuthenticateRequest) (*usersv1.AuthenticateResponse, error) {
	if r.GetPassword() != "correct horse" {
		return nil, errs.New(errs.Unauthenticated, "INVALID_CREDENTIALS", "internal detail: bcrypt mismatch")
	}
	return &usersv1.AuthenticateResponse{AccessToken: f.token, ExpiresIn: 3600, User: &usersv1.User{Id: userID, Name: "Ada"}}, nil
}

func (f *fakes) GetProduct(ctx context.Context, r *productsv1.GetProductRequest) (*productsv1.Product, error) {
	if r.GetId() != productID {
		return nil, errs.New(errs.NotFound, "PRODUCT_NOT_FOUND", "no product "+r.GetId())
	}
	return testProduct(), nil
}

func (f *fakes) BatchGetProducts(context.Context, *productsv1.BatchGetProductsRequest) (*productsv1.BatchGetProductsResponse, error) {
	return &productsv1.BatchGetProductsResponse{Products: []*productsv1.Product{testProduct()}}, nil
}

func (f *fakes) SearchProducts(context.Context, *productsv1.SearchProductsRequest) (*productsv1.SearchProductsResponse, error) {
	return &productsv1.SearchProductsResponse{Products: []*productsv1.Product{testProduct()}, TotalSize: 1}, nil
}

func testProduct() *productsv1.Product {
	return &productsv1.Product{Id: productID, Sku: "MUG-1", Name: "Gopher mug", Category: "kitchen", PriceCents: 1299, Currency: "USD", Stock: 5, Available: 5}
}

func (f *fakes) CreateOrder(ctx context.Context, r *ordersv1.CreateOrderRequest) (*ordersv1.CreateOrderResponse, error) {
	f.saw(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.createErr != nil {
		return nil, f.createErr
	}
	return &ordersv1.CreateOrderResponse{Order: testOrder(ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED)}, nil
}

func (f *fakes) GetOrder(ctx context.Context, r *ordersv1.GetOrderRequest) (*ordersv1.Order, error) {
	f.saw(ctx)
	return testOrder(ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED), nil
}

func (f *fakes) ListOrders(ctx context.Context, _ *ordersv1.ListOrdersRequest) (*ordersv1.ListOrdersResponse, error) {
	f.saw(ctx)
	return &ordersv1.ListOrdersResponse{Orders: []*ordersv1.Order{testOrder(ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED)}}, nil
}

func (f *fakes) CancelOrder(ctx context.Context, _ *ordersv1.CancelOrderRequest) (*ordersv1.Order, error) {
	f.saw(ctx)
	return testOrder(ordersv1.OrderStatus_ORDER_STATUS_CANCELLED), nil
}

func testOrder(s ordersv1.OrderStatus) *ordersv1.Order {
	return &ordersv1.Order{Id: orderID, UserId: userID, Status: s, TotalCents: 1299, Currency: "USD",
		Items: []*ordersv1.OrderItem{{ProductId: productID, Name: "Gopher mug", Quantity: 1, UnitPriceCents: 1299, LineTotalCents: 1299}}}
}

func (f *fakes) WatchStock(ctx context.Context, ids []string) (productsclient.StockStream, error) {
	return chanStream[*productsv1.StockLevel]{ctx: ctx, ch: f.stock}, nil
}

func (f *fakes) WatchOrder(ctx context.Context, id string) (ordersclient.OrderStream, error) {
	f.saw(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.watchErr != nil {
		return failedStream[*ordersv1.Order]{f.watchErr}, nil
	}
	return chanStream[*ordersv1.Order]{ctx: ctx, ch: f.orders}, nil
}

// failedStream fails its first Recv, as a gRPC server stream whose
// server refused the call does.
type failedStream[M any] struct{ err error }

func (s failedStream[M]) Recv() (M, error) {
	var zero M
	return zero, s.err
}

// chanStream is a watch fed by a channel; a closed channel ends it with
// io.EOF, the caller's context with its error, as gRPC's streams do.
type chanStream[M any] struct {
	ctx context.Context
	ch  chan M
}

func (s chanStream[M]) Recv() (M, error) {
	var zero M
	select {
	case m, ok := <-s.ch:
		if !ok {
			return zero, io.EOF
		}
		return m, nil
	case <-s.ctx.Done():
		return zero, s.ctx.Err()
	}
}

// shop is a storefront over fakes, served on a loopback port as the
// gateway mounts it.
type shop struct {
	*fakes
	srv      *Server
	url      string
	draining chan struct{}
}

func newShop(t *testing.T, cfg func(*Config)) *shop {
	t.Helper()
	f := &fakes{issuer: authtest.NewIssuer(t), stock: make(chan *productsv1.StockLevel), orders: make(chan *ordersv1.Order)}
	f.token = f.issuer.Token(t, userID, auth.RoleCustomer)
	draining := make(chan struct{})
	key, _, _ := ParseSessionKey("")
	c := Config{Users: f, Products: f, Orders: f, StockWatch: f, OrderWatch: f, Verifier: f.issuer.Verifier,
		SessionKey: key, Draining: draining}
	if cfg != nil {
		cfg(&c)
	}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(StaticPrefix, s.Static())
	mux.Handle(StreamPrefix, s.Streams())
	mux.Handle("/", s.Pages())
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return &shop{fakes: f, srv: s, url: hs.URL, draining: draining}
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so tests see each answer.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func post(t *testing.T, c *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOf is the CSRF token a page's forms carry.
func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfInput.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", page)
	}
	return m[1]
}

// login logs c in and returns a page's CSRF token of the new session.
func (s *shop) login(t *testing.T, c *http.Client) string {
	t.Helper()
	_, page := get(t, c, s.url+"/login")
	resp, body := post(t, c, s.url+"/login", url.Values{"csrf": {csrfOf(t, page)}, "email": {"ada@example.com"}, "password": {"correct horse"}, "next": {"/orders"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/orders" {
		t.Fatalf("login: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	_, page = get(t, c, s.url+"/")
	return csrfOf(t, page)
}

func contains(t *testing.T, what, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, body)
		}
	}
}
