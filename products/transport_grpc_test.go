package main

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/auth/authtest"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/mw"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

type grpcFixture struct {
	*fixture
	client          productsv1.ProductsServiceClient
	admin, customer string
}

// newGRPCFixture serves f's service on a real 127.0.0.1 listener with the
// kit server (interceptors, health) and the auth interceptors, as main
// does, and dials it with a plain client so the raw statuses are visible.
func newGRPCFixture(t testing.TB, f *fixture) *grpcFixture {
	t.Helper()
	iss := authtest.NewIssuer(t)
	addr := serveGRPC(t, f, iss, mw.Chain{Service: "products"}, grpcx.ServerConfig{Service: "products"})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &grpcFixture{fixture: f, client: productsv1.NewProductsServiceClient(conn),
		admin: iss.Token(t, uuid.NewString(), auth.RoleAdmin), customer: iss.Token(t, uuid.NewString(), auth.RoleCustomer)}
}

// serveGRPC serves f's service with chain and cfg until the test ends and
// returns the listener's address.
func serveGRPC(t testing.TB, f *fixture, iss *authtest.Issuer, chain mw.Chain, cfg grpcx.ServerConfig) string {
	t.Helper()
	srv := grpcx.NewServer(cfg, iss.Verifier.GRPCServerOptions()...)
	productsv1.RegisterProductsServiceServer(srv, NewGRPCServer(MakeEndpoints(f.svc, chain), f.svc, cfg.Readiness))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		grpcx.Stop(ctx, srv)
		<-served
	})
	return ln.Addr().String()
}

func withToken(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

func TestGRPCUnaryCodes(t *testing.T) {
	g := newGRPCFixture(t, newFixture(t, newMemoryStore(), Options{}))
	ctx := context.Background()
	create := &productsv1.CreateProductRequest{Sku: "G-1", Name: "Gizmo", Category: "tools", PriceCents: 500, Currency: "USD", Stock: 2}

	_, err := g.client.CreateProduct(ctx, create)
	kittest.WantStatus(t, err, codes.Unauthenticated, "UNAUTHENTICATED")
	_, err = g.client.CreateProduct(withToken(ctx, "not-a-jwt"), create)
	kittest.WantStatus(t, err, codes.Unauthenticated, "UNAUTHENTICATED")
	_, err = g.client.CreateProduct(withToken(ctx, g.customer), create)
	kittest.WantStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
	p, err := g.client.CreateProduct(withToken(ctx, g.admin), create)
	if err != nil || p.GetAvailable() != 2 || p.GetCreatedAt() == nil {
		t.Fatalf("create = %v, %v", p, err)
	}
	_, err = g.client.CreateProduct(withToken(ctx, g.admin), create)
	kittest.WantStatus(t, err, codes.AlreadyExists, "SKU_TAKEN")

	_, err = g.client.CreateProduct(withToken(ctx, g.admin), &productsv1.CreateProductRequest{Sku: "x y"})
	st := kittest.WantStatus(t, err, codes.InvalidArgument, errs.ReasonValidation)
	if violations := kittest.FieldViolations(st); len(violations) != 3 { // sku, name, currency
		t.Fatalf("field violations %v in %v", violations, st.Details())
	}

	got, err := g.client.GetProduct(ctx, &productsv1.GetProductRequest{Id: p.GetId()})
	if err != nil || got.GetSku() != "G-1" {
		t.Fatalf("get = %v, %v", got, err)
	}
	_, err = g.client.GetProduct(ctx, &productsv1.GetProductRequest{Id: uuid.NewString()})
	kittest.WantStatus(t, err, codes.NotFound, "PRODUCT_NOT_FOUND")

	name := "Renamed"
	_, err = g.client.UpdateProduct(ctx, &productsv1.UpdateProductRequest{Id: p.GetId(), Name: &name})
	kittest.WantStatus(t, err, codes.Unauthenticated, "UNAUTHENTICATED")
	up, err := g.client.UpdateProduct(withToken(ctx, g.admin), &productsv1.UpdateProductRequest{Id: p.GetId(), Name: &name})
	if err != nil || up.GetName() != name || up.GetCategory() != "tools" {
		t.Fatalf("update = %v, %v", up, err)
	}
	_, err = g.client.AdjustStock(withToken(ctx, g.customer), &productsv1.AdjustStockRequest{Id: p.GetId(), Delta: 1})
	kittest.WantStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED")

	missing := uuid.NewString()
	batch, err := g.client.BatchGetProducts(ctx, &productsv1.BatchGetProductsRequest{Ids: []string{missing, p.GetId()}})
	if err != nil || len(batch.GetProducts()) != 1 || len(batch.GetMissingIds()) != 1 || batch.GetMissingIds()[0] != missing {
		t.Fatalf("batch = %v, %v", batch, err)
	}
	min := int64(100)
	page, err := g.client.SearchProducts(ctx, &productsv1.SearchProductsRequest{Category: "tools", MinPriceCents: &min})
	if err != nil || len(page.GetProducts()) != 1 || page.GetTotalSize() != 1 {
		t.Fatalf("search = %v, %v", page, err)
	}
	_, err = g.client.SearchProducts(ctx, &productsv1.SearchProductsRequest{PageToken: "x"})
	kittest.WantStatus(t, err, codes.InvalidArgument, "INVALID_PAGE_TOKEN")
}

func TestGRPCReservations(t *testing.T) {
	g := newGRPCFixture(t, newFixture(t, newMemoryStore(), Options{}))
	ctx := context.Background() // the saga's calls carry no user token
	p := g.create(t, "RSV", 3)

	_, err := g.client.ReserveInventory(ctx, &productsv1.ReserveInventoryRequest{ReservationId: uuid.NewString(),
		Items: []*productsv1.ReservationItem{{ProductId: p.ID, Quantity: 4}}})
	meta := kittest.ErrorMetadata(kittest.WantStatus(t, err, codes.FailedPrecondition, "INSUFFICIENT_STOCK"))
	if meta["product_id"] != p.ID || meta["available"] != "3" || meta["requested"] != "4" {
		t.Fatalf("metadata %v", meta)
	}
	// A kitshop caller (orders, the gateway) gets the counts back as
	// integers, so its problem documents carry JSON numbers.
	if m := errs.As(errs.FromGRPC(err)).Meta; m["available"] != int64(3) || m["requested"] != int64(4) || m["product_id"] != p.ID {
		t.Fatalf("decoded meta %#v", m)
	}

	req := &productsv1.ReserveInventoryRequest{ReservationId: uuid.NewString(), IdempotencyKey: "order-1",
		Items: []*productsv1.ReservationItem{{ProductId: p.ID, Quantity: 2}}, Ttl: durationpb.New(time.Minute)}
	r, err := g.client.ReserveInventory(ctx, req)
	if err != nil || r.GetStatus() != productsv1.ReservationStatus_RESERVATION_STATUS_RESERVED ||
		!r.GetExpiresAt().AsTime().Equal(testEpoch.Add(time.Minute)) || len(r.GetItems()) != 1 {
		t.Fatalf("reserve = %v, %v", r, err)
	}
	if it := r.GetItems()[0]; it.GetUnitPriceCents() != 500 || it.GetCurrency() != "EUR" {
		t.Fatalf("item price %v", it)
	}
	again, err := g.client.ReserveInventory(ctx, req)
	if err != nil || again.GetId() != r.GetId() {
		t.Fatalf("replay = %v, %v", again, err)
	}
	req.Items[0].Quantity = 1
	_, err = g.client.ReserveInventory(ctx, req)
	kittest.WantStatus(t, err, codes.FailedPrecondition, "IDEMPOTENCY_KEY_REUSED")
	_, err = g.client.ReserveInventory(ctx, &productsv1.ReserveInventoryRequest{ReservationId: uuid.NewString(),
		Items: []*productsv1.ReservationItem{{ProductId: p.ID, Quantity: 1}}, Ttl: &durationpb.Duration{Seconds: -1}})
	kittest.WantStatus(t, err, codes.InvalidArgument, errs.ReasonValidation)

	ref := &productsv1.ReleaseReservationRequest{ReservationId: r.GetId(), IdempotencyKey: "order-1-release"}
	rel, err := g.client.ReleaseReservation(ctx, ref)
	if err != nil || rel.GetStatus() != productsv1.ReservationStatus_RESERVATION_STATUS_RELEASED {
		t.Fatalf("release = %v, %v", rel, err)
	}
	_, err = g.client.CommitReservation(ctx, &productsv1.CommitReservationRequest{ReservationId: r.GetId()})
	kittest.WantStatus(t, err, codes.FailedPrecondition, "RESERVATION_RELEASED")
	_, err = g.client.CommitReservation(ctx, &productsv1.CommitReservationRequest{ReservationId: uuid.NewString()})
	kittest.WantStatus(t, err, codes.NotFound, "RESERVATION_NOT_FOUND")

	r2, err := g.client.ReserveInventory(ctx, &productsv1.ReserveInventoryRequest{ReservationId: uuid.NewString(),
		Items: []*productsv1.ReservationItem{{ProductId: p.ID, Quantity: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	com, err := g.client.CommitReservation(ctx, &productsv1.CommitReservationRequest{ReservationId: r2.GetId()})
	if err != nil || com.GetStatus() != productsv1.ReservationStatus_RESERVATION_STATUS_COMMITTED {
		t.Fatalf("commit = %v, %v", com, err)
	}
	_, err = g.client.ReleaseReservation(ctx, &productsv1.ReleaseReservationRequest{ReservationId: r2.GetId()})
	kittest.WantStatus(t, err, codes.FailedPrecondition, "RESERVATION_COMMITTED")
	if got := g.get(t, p.ID); got.Stock != 0 || got.Reserved != 0 {
		t.Fatalf("after commit of 3: %+v", got)
	}

	// A compensation by the key of a Reserve that never arrived.
	nothing, err := g.client.ReleaseReservation(ctx, &productsv1.ReleaseReservationRequest{ReservationIdempotencyKey: "order-2-reserve"})
	if err != nil || nothing.GetStatus() != productsv1.ReservationStatus_RESERVATION_STATUS_RELEASED || len(nothing.GetItems()) != 0 {
		t.Fatalf("release of nothing = %v, %v", nothing, err)
	}
	_, err = g.client.ReserveInventory(ctx, &productsv1.ReserveInventoryRequest{ReservationId: uuid.NewString(),
		IdempotencyKey: "order-2-reserve", Items: []*productsv1.ReservationItem{{ProductId: p.ID, Quantity: 1}}})
	kittest.WantStatus(t, err, codes.FailedPrecondition, "RESERVATION_RELEASED")
	_, err = g.client.ReleaseReservation(ctx, &productsv1.ReleaseReservationRequest{ReservationId: r.GetId(), ReservationIdempotencyKey: "order-1"})
	kittest.WantStatus(t, err, codes.InvalidArgument, errs.ReasonValidation)
}

// TestGRPCRestockItems: the internal restock needs no user token, applies
// once per key and says when it replayed.
func TestGRPCRestockItems(t *testing.T) {
	g := newGRPCFixture(t, newFixture(t, newMemoryStore(), Options{}))
	ctx := context.Background()
	p := g.create(t, "RST", 1)
	req := &productsv1.RestockItemsRequest{IdempotencyKey: "order-3-cancel",
		Items: []*productsv1.RestockItem{{ProductId: p.ID, Quantity: 2}}}
	for i := range 2 {
		res, err := g.client.RestockItems(ctx, req)
		if err != nil || len(res.GetProducts()) != 1 || res.GetProducts()[0].GetStock() != 3 || res.GetReplayed() != (i == 1) {
			t.Fatalf("attempt %d: %v, %v", i+1, res, err)
		}
	}
	req.Items[0].Quantity = 5
	_, err := g.client.RestockItems(ctx, req)
	kittest.WantStatus(t, err, codes.FailedPrecondition, "IDEMPOTENCY_KEY_REUSED")
	_, err = g.client.RestockItems(ctx, &productsv1.RestockItemsRequest{Items: req.Items})
	kittest.WantStatus(t, err, codes.InvalidArgument, errs.ReasonValidation)
}

func TestGRPCListProducts(t *testing.T) {
	g := newGRPCFixture(t, newFixture(t, newMemoryStore(), Options{}))
	for i := range 25 {
		g.create(t, "L"+uuid.NewString()[:8]+string(rune('a'+i)), 1)
	}
	stream, err := g.client.ListProducts(context.Background(), &productsv1.ListProductsRequest{BatchSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	last := ""
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(m.GetProducts()))
		for _, p := range m.GetProducts() {
			if p.GetId() <= last {
				t.Fatalf("not in id order: %s after %s", p.GetId(), last)
			}
			last = p.GetId()
		}
	}
	if len(sizes) != 3 || sizes[0] != 10 || sizes[1] != 10 || sizes[2] != 5 {
		t.Fatalf("batches %v, want [10 10 5]", sizes)
	}
	bad, err := g.client.ListProducts(context.Background(), &productsv1.ListProductsRequest{BatchSize: -1})
	if err == nil {
		_, err = bad.Recv()
	}
	kittest.WantStatus(t, err, codes.InvalidArgument, errs.ReasonValidation)
}

func TestGRPCImportProducts(t *testing.T) {
	g := newGRPCFixture(t, newFixture(t, newMemoryStore(), Options{}))
	send := func(ctx context.Context, rows ...*productsv1.ImportProductsRequest) (*productsv1.ImportProductsResponse, error) {
		stream, err := g.client.ImportProducts(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			if err := stream.Send(r); err != nil {
				break // the server ended the call; CloseAndRecv has its status
			}
		}
		return stream.CloseAndRecv()
	}
	row := func(sku string) *productsv1.ImportProductsRequest {
		// active left unset: it means active.
		return &productsv1.ImportProductsRequest{Sku: sku, Name: "Imported " + sku, PriceCents: 100, Currency: "USD", Stock: 4}
	}
	_, err := send(context.Background(), row("I-1"))
	kittest.WantStatus(t, err, codes.Unauthenticated, "UNAUTHENTICATED")
	_, err = send(withToken(context.Background(), g.customer), row("I-1"))
	kittest.WantStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED")

	bad := row("I-3")
	bad.PriceCents = -1
	res, err := send(withToken(context.Background(), g.admin), row("I-1"), row("I-2"), bad, &productsv1.ImportProductsRequest{}, row("I-1"))
	if err != nil {
		t.Fatal(err)
	}
	if res.GetCreated() != 2 || res.GetUpdated() != 1 || res.GetFailed() != 2 || len(res.GetErrors()) != 2 {
		t.Fatalf("result %v", res)
	}
	if e := res.GetErrors()[0]; e.GetRow() != 2 || e.GetSku() != "I-3" || e.GetCode() != errs.ReasonValidation {
		t.Fatalf("first error %v", e)
	}
	if e := res.GetErrors()[1]; e.GetRow() != 3 || e.GetCode() != errs.ReasonValidation {
		t.Fatalf("second error %v", e)
	}

	inactive := row("I-4")
	inactive.Active = proto.Bool(false)
	if _, err := send(withToken(context.Background(), g.admin), inactive); err != nil {
		t.Fatal(err)
	}
	listed, err := g.client.SearchProducts(context.Background(), &productsv1.SearchProductsRequest{Q: "Imported", PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range listed.GetProducts() {
		seen[p.GetSku()] = p.GetActive()
	}
	if !seen["I-1"] || !seen["I-2"] || seen["I-4"] {
		t.Fatalf("unset active must import active, false inactive: %v", seen)
	}
}

// watchClient drives a WatchStock stream from the test.
type watchClient struct {
	stream productsv1.ProductsService_WatchStockClient
	cancel context.CancelFunc
}

func (g *grpcFixture) watch(t *testing.T) *watchClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := g.client.WatchStock(ctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	w := &watchClient{stream: stream, cancel: cancel}
	t.Cleanup(cancel)
	return w
}

func (w *watchClient) subscribe(t *testing.T, ids ...string) {
	t.Helper()
	err := w.stream.Send(&productsv1.WatchStockRequest{Action: &productsv1.WatchStockRequest_Subscribe{
		Subscribe: &productsv1.StockSubscription{ProductIds: ids}}})
	if err != nil {
		t.Fatal(err)
	}
}

func (w *watchClient) unsubscribe(t *testing.T, ids ...string) {
	t.Helper()
	err := w.stream.Send(&productsv1.WatchStockRequest{Action: &productsv1.WatchStockRequest_Unsubscribe{
		Unsubscribe: &productsv1.StockSubscription{ProductIds: ids}}})
	if err != nil {
		t.Fatal(err)
	}
}

func (w *watchClient) expect(t *testing.T, id string, stock, reserved int64) {
	t.Helper()
	got := make(chan *productsv1.StockLevel, 1)
	errc := make(chan error, 1)
	go func() {
		l, err := w.stream.Recv()
		if err != nil {
			errc <- err
			return
		}
		got <- l
	}()
	select {
	case l := <-got:
		if l.GetProductId() != id || l.GetStock() != stock || l.GetReserved() != reserved ||
			l.GetAvailable() != stock-reserved || l.GetAt() == nil {
			t.Fatalf("got %v, want %s stock %d reserved %d", l, id, stock, reserved)
		}
	case err := <-errc:
		t.Fatalf("Recv: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no stock level within 10s")
	}
}

func TestGRPCWatchStock(t *testing.T) {
	kittest.CheckGoroutines(t)
	f := newFixture(t, newMemoryStore(), Options{})
	startFeed(t, f)
	g := newGRPCFixture(t, f)
	ctx := context.Background()
	p, q := f.create(t, "WP", 10), f.create(t, "WQ", 4)

	w := g.watch(t)
	w.subscribe(t, p.ID)
	w.expect(t, p.ID, 10, 0)
	r, err := f.svc.ReserveInventory(ctx, reserveReq(item(p.ID, 3)))
	if err != nil {
		t.Fatal(err)
	}
	w.expect(t, p.ID, 10, 3)
	if _, err := f.svc.CommitReservation(ctx, ReservationRef{ReservationID: r.ID}); err != nil {
		t.Fatal(err)
	}
	w.expect(t, p.ID, 7, 0)

	// Requests are applied in order: once q's snapshot arrives, p is off.
	w.unsubscribe(t, p.ID)
	w.subscribe(t, q.ID)
	w.expect(t, q.ID, 4, 0)
	if _, err := f.svc.AdjustStock(ctx, StockAdjustment{ProductID: p.ID, Delta: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AdjustStock(ctx, StockAdjustment{ProductID: q.ID, Delta: 1}); err != nil {
		t.Fatal(err)
	}
	w.expect(t, q.ID, 5, 0) // and not p's change

	// A bad request ends the call with its error.
	w.subscribe(t, "not-a-uuid")
	_, err = w.stream.Recv()
	kittest.WantStatus(t, err, codes.InvalidArgument, errs.ReasonValidation)
}

// TestGRPCWatchStockSlowConsumer: a client that stops reading fills the
// transport's flow-control windows, then the watch's queue, and is cut off
// with RESOURCE_EXHAUSTED instead of making the server buffer without
// bound.
func TestGRPCWatchStockSlowConsumer(t *testing.T) {
	kittest.CheckGoroutines(t)
	f := newFixture(t, newMemoryStore(), Options{WatchBuffer: 16})
	startFeed(t, f)
	g := newGRPCFixture(t, f)
	ctx := context.Background()
	p := f.create(t, "SLOW", 1)
	w := g.watch(t)
	w.subscribe(t, p.ID)
	w.expect(t, p.ID, 1, 0)

	// Far more changes than the HTTP/2 windows (64 KiB each way) and the
	// queue can hold, with the client not reading. The changes are paced
	// so the server's sender keeps up for as long as the transport takes
	// its messages: the cut must come from the client not reading, not
	// from the burst.
	const changes = 20000
	for range changes {
		if _, err := f.svc.AdjustStock(ctx, StockAdjustment{ProductID: p.ID, Delta: 1}); err != nil {
			t.Fatal(err)
		}
		for wait := time.Now().Add(50 * time.Millisecond); queued(f, p.ID) > 8 && time.Now().Before(wait); {
			time.Sleep(100 * time.Microsecond)
		}
	}
	received := 0
	for {
		_, err := w.stream.Recv()
		if err != nil {
			kittest.WantStatus(t, err, codes.ResourceExhausted, "SLOW_CONSUMER")
			break
		}
		received++
	}
	if received >= changes || received < 100 {
		t.Fatalf("received %d of %d changes before the cut; want the flow-control windows' worth", received, changes)
	}
	t.Logf("slow consumer received %d of %d changes (the transport's buffers) before being cut off", received, changes)
}

// queued is the longest queue among the watches of product id.
func queued(f *fixture, id string) int {
	f.impl.broker.mu.Lock()
	defer f.impl.broker.mu.Unlock()
	n := 0
	for w := range f.impl.broker.byProduct[id] {
		n = max(n, len(w.ch))
	}
	return n
}

// TestGRPCWatchStockEndsWithClient: cancelling the call ends the handler and
// unregisters the watch.
func TestGRPCWatchStockEndsWithClient(t *testing.T) {
	kittest.CheckGoroutines(t)
	f := newFixture(t, newMemoryStore(), Options{})
	g := newGRPCFixture(t, f)
	p := f.create(t, "END", 1)
	w := g.watch(t)
	w.subscribe(t, p.ID)
	w.expect(t, p.ID, 1, 0)
	w.cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.impl.broker.mu.Lock()
		n := len(f.impl.broker.byProduct)
		f.impl.broker.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("watch still registered for %d products after the client left", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGRPCWatchStockEndsOnShutdown: when the process stops being ready
// (shutdown step 2), open watches end with UNAVAILABLE instead of holding
// the drain open.
func TestGRPCWatchStockEndsOnShutdown(t *testing.T) {
	kittest.CheckGoroutines(t)
	f := newFixture(t, newMemoryStore(), Options{})
	ready := health.New()
	ready.SetReady(true)
	iss := authtest.NewIssuer(t)
	addr := serveGRPC(t, f, iss, mw.Chain{Service: "products"}, grpcx.ServerConfig{Service: "products", Readiness: ready})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	g := &grpcFixture{fixture: f, client: productsv1.NewProductsServiceClient(conn)}
	p := f.create(t, "SHUT", 1)
	w := g.watch(t)
	w.subscribe(t, p.ID)
	w.expect(t, p.ID, 1, 0)
	ready.SetReady(false)
	_, err = w.stream.Recv()
	kittest.WantStatus(t, err, codes.Unavailable, errs.ReasonUnavailable)
}
