package main

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/health"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
	"github.com/kitshop/kitshop/products/client"
)

// unaryServer serves Endpoints as the unary methods of
// ProductsServiceServer (the streams answer UNIMPLEMENTED). It is the whole
// pb server as HTTP sees it: products/client's REST mapping calls it
// in-process (it is a client.API), so an HTTP request runs through the
// same decode, endpoint chain and encode as a gRPC call. Errors are
// returned as domain errors; over gRPC, kit/grpcx's interceptors turn them
// into statuses with ErrorInfo, and over HTTP the mapping writes them as
// problems.
type unaryServer struct {
	productsv1.UnimplementedProductsServiceServer
	createProduct      *grpcx.Handler[*productsv1.CreateProductRequest, *productsv1.Product]
	updateProduct      *grpcx.Handler[*productsv1.UpdateProductRequest, *productsv1.Product]
	getProduct         *grpcx.Handler[*productsv1.GetProductRequest, *productsv1.Product]
	batchGetProducts   *grpcx.Handler[*productsv1.BatchGetProductsRequest, *productsv1.BatchGetProductsResponse]
	searchProducts     *grpcx.Handler[*productsv1.SearchProductsRequest, *productsv1.SearchProductsResponse]
	adjustStock        *grpcx.Handler[*productsv1.AdjustStockRequest, *productsv1.Product]
	reserveInventory   *grpcx.Handler[*productsv1.ReserveInventoryRequest, *productsv1.Reservation]
	commitReservation  *grpcx.Handler[*productsv1.CommitReservationRequest, *productsv1.Reservation]
	releaseReservation *grpcx.Handler[*productsv1.ReleaseReservationRequest, *productsv1.Reservation]
	restockItems       *grpcx.Handler[*productsv1.RestockItemsRequest, *productsv1.RestockItemsResponse]
	getReservation     *grpcx.Handler[*productsv1.GetReservationRequest, *productsv1.Reservation]
}

func newUnaryServer(e Endpoints) *unaryServer {
	return &unaryServer{
		createProduct:      grpcx.NewHandler(e.CreateProduct, decodeCreateProduct, encodeProduct),
		updateProduct:      grpcx.NewHandler(e.UpdateProduct, decodeUpdateProduct, encodeProduct),
		getProduct:         grpcx.NewHandler(e.GetProduct, decodeGetProduct, encodeProduct),
		batchGetProducts:   grpcx.NewHandler(e.BatchGetProducts, decodeBatchGet, encodeBatch),
		searchProducts:     grpcx.NewHandler(e.SearchProducts, decodeSearch, encodeSearch),
		adjustStock:        grpcx.NewHandler(e.AdjustStock, decodeAdjustStock, encodeStockResult),
		reserveInventory:   grpcx.NewHandler(e.ReserveInventory, decodeReserve, encodeReservation),
		commitReservation:  grpcx.NewHandler(e.CommitReservation, decodeCommit, encodeReservation),
		releaseReservation: grpcx.NewHandler(e.ReleaseReservation, decodeRelease, encodeReservation),
		restockItems:       grpcx.NewHandler(e.RestockItems, decodeRestock, encodeRestock),
		getReservation:     grpcx.NewHandler(e.GetReservation, decodeGetReservation, encodeReservation),
	}
}

// grpcServer is the generated ProductsServiceServer: the unary methods of
// unaryServer, and the streams, which call the Service directly (go-kit
// has no streams). kit/grpcx's interceptors log, measure and recover the
// streams too.
type grpcServer struct {
	*unaryServer
	svc Service
	// draining is closed once shutdown begins; watches end then, so that
	// their clients move to another instance instead of holding the drain
	// open until it times out.
	draining <-chan struct{}
}

// NewGRPCServer serves e, and s's streams, as kitshop.products.v1.ProductsService.
// ready is the process's readiness (nil in tests): when it turns false
// after having been true, shutdown has begun and WatchStock streams end
// with UNAVAILABLE.
func NewGRPCServer(e Endpoints, s Service, ready *health.Readiness) productsv1.ProductsServiceServer {
	return &grpcServer{unaryServer: newUnaryServer(e), svc: s, draining: health.DrainSignal(ready)}
}

func (s *unaryServer) CreateProduct(ctx context.Context, r *productsv1.CreateProductRequest) (*productsv1.Product, error) {
	return s.createProduct.Serve(ctx, r)
}

func (s *unaryServer) UpdateProduct(ctx context.Context, r *productsv1.UpdateProductRequest) (*productsv1.Product, error) {
	return s.updateProduct.Serve(ctx, r)
}

func (s *unaryServer) GetProduct(ctx context.Context, r *productsv1.GetProductRequest) (*productsv1.Product, error) {
	return s.getProduct.Serve(ctx, r)
}

func (s *unaryServer) BatchGetProducts(ctx context.Context, r *productsv1.BatchGetProductsRequest) (*productsv1.BatchGetProductsResponse, error) {
	return s.batchGetProducts.Serve(ctx, r)
}

func (s *unaryServer) SearchProducts(ctx context.Context, r *productsv1.SearchProductsRequest) (*productsv1.SearchProductsResponse, error) {
	return s.searchProducts.Serve(ctx, r)
}

// AdjustStock answers a replayed adjustment with the response header
// client.ReplayedMetadata (see encodeStockResult).
func (s *unaryServer) AdjustStock(ctx context.Context, r *productsv1.AdjustStockRequest) (*productsv1.Product, error) {
	return s.adjustStock.Serve(ctx, r)
}

func (s *unaryServer) ReserveInventory(ctx context.Context, r *productsv1.ReserveInventoryRequest) (*productsv1.Reservation, error) {
	return s.reserveInventory.Serve(ctx, r)
}

func (s *unaryServer) CommitReservation(ctx context.Context, r *productsv1.CommitReservationRequest) (*productsv1.Reservation, error) {
	return s.commitReservation.Serve(ctx, r)
}

func (s *unaryServer) ReleaseReservation(ctx context.Context, r *productsv1.ReleaseReservationRequest) (*productsv1.Reservation, error) {
	return s.releaseReservation.Serve(ctx, r)
}

func (s *unaryServer) RestockItems(ctx context.Context, r *productsv1.RestockItemsRequest) (*productsv1.RestockItemsResponse, error) {
	return s.restockItems.Serve(ctx, r)
}

func (s *unaryServer) GetReservation(ctx context.Context, r *productsv1.GetReservationRequest) (*productsv1.Reservation, error) {
	return s.getReservation.Serve(ctx, r)
}

// ListProducts sends the catalog one store batch per message, so the
// server holds one batch at a time however large the catalog; a client
// that goes away cancels the stream context, which stops the next query.
func (s *grpcServer) ListProducts(r *productsv1.ListProductsRequest, stream productsv1.ProductsService_ListProductsServer) error {
	return s.svc.ListProducts(stream.Context(), int(r.GetBatchSize()), func(batch []Product) error {
		msg := &productsv1.ListProductsResponse{Products: make([]*productsv1.Product, len(batch))}
		for i, p := range batch {
			msg.Products[i] = productToPB(p)
		}
		return stream.Send(msg)
	})
}

// ImportProducts is admin-only, like the other catalog writes.
func (s *grpcServer) ImportProducts(stream productsv1.ProductsService_ImportProductsServer) error {
	ctx := stream.Context()
	if _, err := auth.RequireAdmin(ctx); err != nil {
		return err
	}
	res, err := s.svc.ImportProducts(ctx, func() (ImportRow, error) {
		m, err := stream.Recv()
		if err != nil {
			return ImportRow{}, err // io.EOF ends the import normally
		}
		return ImportRow{SKU: m.GetSku(), Name: m.GetName(), Description: m.GetDescription(), Category: m.GetCategory(),
			PriceCents: m.GetPriceCents(), Currency: m.GetCurrency(), Stock: m.GetStock(), Active: m.Active == nil || m.GetActive()}, nil
	})
	if err != nil {
		return err
	}
	out := &productsv1.ImportProductsResponse{Created: res.Created, Updated: res.Updated, Failed: res.Failed,
		Errors: make([]*productsv1.ImportError, len(res.Errors))}
	for i, e := range res.Errors {
		out.Errors[i] = &productsv1.ImportError{Row: e.Row, Sku: e.SKU, Code: e.Code, Message: e.Message}
	}
	return stream.SendAndClose(out)
}

func decodeCreateProduct(_ context.Context, r *productsv1.CreateProductRequest) (NewProduct, error) {
	return NewProduct{SKU: r.GetSku(), Name: r.GetName(), Description: r.GetDescription(), Category: r.GetCategory(),
		PriceCents: r.GetPriceCents(), Currency: r.GetCurrency(), Stock: r.GetStock()}, nil
}

func decodeUpdateProduct(_ context.Context, r *productsv1.UpdateProductRequest) (ProductUpdate, error) {
	return ProductUpdate{ID: r.GetId(), Name: r.Name, Description: r.Description, Category: r.Category,
		PriceCents: r.PriceCents, Active: r.Active}, nil
}

func decodeGetProduct(_ context.Context, r *productsv1.GetProductRequest) (string, error) {
	return r.GetId(), nil
}

func decodeBatchGet(_ context.Context, r *productsv1.BatchGetProductsRequest) ([]string, error) {
	return r.GetIds(), nil
}

func decodeSearch(_ context.Context, r *productsv1.SearchProductsRequest) (SearchRequest, error) {
	return SearchRequest{Query: r.GetQ(), Category: r.GetCategory(), MinPriceCents: r.MinPriceCents,
		MaxPriceCents: r.MaxPriceCents, PageSize: int(r.GetPageSize()), PageToken: r.GetPageToken()}, nil
}

func decodeAdjustStock(_ context.Context, r *productsv1.AdjustStockRequest) (StockAdjustment, error) {
	return StockAdjustment{ProductID: r.GetId(), Delta: r.GetDelta(), IdempotencyKey: r.GetIdempotencyKey()}, nil
}

func decodeReserve(_ context.Context, r *productsv1.ReserveInventoryRequest) (ReserveRequest, error) {
	req := ReserveRequest{ReservationID: r.GetReservationId(), IdempotencyKey: r.GetIdempotencyKey(),
		Items: make([]StockItem, len(r.GetItems()))}
	for i, it := range r.GetItems() {
		// Prices in a request are ignored: the reservation records the
		// product's own.
		req.Items[i] = StockItem{ProductID: it.GetProductId(), Quantity: it.GetQuantity()}
	}
	if r.Ttl != nil {
		if err := r.Ttl.CheckValid(); err != nil {
			return ReserveRequest{}, errs.Invalid(errs.FieldViolation{Field: "ttl", Message: "is not a valid duration"})
		}
		req.TTL = r.Ttl.AsDuration()
	}
	return req, nil
}

func decodeCommit(_ context.Context, r *productsv1.CommitReservationRequest) (ReservationRef, error) {
	return ReservationRef{ReservationID: r.GetReservationId(), IdempotencyKey: r.GetIdempotencyKey()}, nil
}

func decodeRelease(_ context.Context, r *productsv1.ReleaseReservationRequest) (ReservationRef, error) {
	return ReservationRef{ReservationID: r.GetReservationId(), ReservationKey: r.GetReservationIdempotencyKey(),
		IdempotencyKey: r.GetIdempotencyKey()}, nil
}

func decodeGetReservation(_ context.Context, r *productsv1.GetReservationRequest) (ReservationRef, error) {
	return ReservationRef{ReservationID: r.GetReservationId(), ReservationKey: r.GetReservationIdempotencyKey()}, nil
}

func decodeRestock(_ context.Context, r *productsv1.RestockItemsRequest) (RestockRequest, error) {
	req := RestockRequest{IdempotencyKey: r.GetIdempotencyKey(), Items: make([]StockItem, len(r.GetItems()))}
	for i, it := range r.GetItems() {
		req.Items[i] = StockItem{ProductID: it.GetProductId(), Quantity: it.GetQuantity()}
	}
	return req, nil
}

func encodeProduct(_ context.Context, p Product) (*productsv1.Product, error) {
	return productToPB(p), nil
}

// encodeStockResult answers the adjusted product. AdjustStock's response
// is a bare Product, so a replay is said in the response header
// client.ReplayedMetadata: a gRPC header over gRPC, and the
// Idempotent-Replayed HTTP header when products/client's mapping serves
// the call (its requests carry a grpc.ServerTransportStream, as
// grpc-gateway's in-process handlers do). Without a stream in ctx (a
// direct call) there is nobody to tell. SetHeader cannot fail for a unary
// call still being served, and the adjustment is applied either way.
func encodeStockResult(ctx context.Context, r StockResult) (*productsv1.Product, error) {
	if r.Replayed && grpc.ServerTransportStreamFromContext(ctx) != nil {
		_ = grpc.SetHeader(ctx, metadata.Pairs(client.ReplayedMetadata, "true"))
	}
	return productToPB(r.Product), nil
}

func encodeRestock(_ context.Context, r RestockResult) (*productsv1.RestockItemsResponse, error) {
	out := &productsv1.RestockItemsResponse{Products: make([]*productsv1.Product, len(r.Products)), Replayed: r.Replayed}
	for i, p := range r.Products {
		out.Products[i] = productToPB(p)
	}
	return out, nil
}

func encodeBatch(_ context.Context, b BatchResult) (*productsv1.BatchGetProductsResponse, error) {
	out := &productsv1.BatchGetProductsResponse{Products: make([]*productsv1.Product, len(b.Products)), MissingIds: b.MissingIDs}
	for i, p := range b.Products {
		out.Products[i] = productToPB(p)
	}
	return out, nil
}

func encodeSearch(_ context.Context, page SearchPage) (*productsv1.SearchProductsResponse, error) {
	out := &productsv1.SearchProductsResponse{Products: make([]*productsv1.Product, len(page.Products)),
		NextPageToken: page.NextPageToken, TotalSize: page.TotalSize}
	for i, p := range page.Products {
		out.Products[i] = productToPB(p)
	}
	return out, nil
}

func encodeReservation(_ context.Context, r Reservation) (*productsv1.Reservation, error) {
	out := &productsv1.Reservation{Id: r.ID, Status: productsv1.ReservationStatus(r.Status),
		Items:     make([]*productsv1.ReservationItem, len(r.Items)),
		ExpiresAt: timestamppb.New(r.ExpiresAt), CreatedAt: timestamppb.New(r.CreatedAt), UpdatedAt: timestamppb.New(r.UpdatedAt)}
	for i, it := range r.Items {
		out.Items[i] = &productsv1.ReservationItem{ProductId: it.ProductID, Quantity: it.Quantity,
			UnitPriceCents: it.UnitPriceCents, Currency: it.Currency}
	}
	return out, nil
}

func productToPB(p Product) *productsv1.Product {
	return &productsv1.Product{
		Id: p.ID, Sku: p.SKU, Name: p.Name, Description: p.Description, Category: p.Category,
		PriceCents: p.PriceCents, Currency: p.Currency, Stock: p.Stock, Reserved: p.Reserved,
		Available: p.Available(), Active: p.Active,
		CreatedAt: timestamppb.New(p.CreatedAt), UpdatedAt: timestamppb.New(p.UpdatedAt),
	}
}

func stockLevelToPB(l StockLevel) *productsv1.StockLevel {
	return &productsv1.StockLevel{ProductId: l.ProductID, Stock: l.Stock, Reserved: l.Reserved,
		Available: l.Available(), At: timestamppb.New(l.At)}
}
