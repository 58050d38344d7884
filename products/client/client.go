package client

import (
	"context"

	"github.com/kitshop/kitshop/kit/sd"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

// Service is the name products registers under.
const Service = "products"

// Client calls the products service's unary methods. Reads (GetReservation
// among them) and the keyed inventory writes (reserve, commit, release,
// restock) are retried
// on another instance when one is unavailable or an attempt times out;
// catalog writes are sent once. Errors keep the kind and reason the
// service returned (see the Reason constants), or are Unavailable with
// kit/sd's NO_INSTANCES or kit/mw's BREAKER_OPEN when no call was made.
type Client interface {
	CreateProduct(context.Context, *productsv1.CreateProductRequest) (*productsv1.Product, error)
	UpdateProduct(context.Context, *productsv1.UpdateProductRequest) (*productsv1.Product, error)
	GetProduct(context.Context, *productsv1.GetProductRequest) (*productsv1.Product, error)
	BatchGetProducts(context.Context, *productsv1.BatchGetProductsRequest) (*productsv1.BatchGetProductsResponse, error)
	SearchProducts(context.Context, *productsv1.SearchProductsRequest) (*productsv1.SearchProductsResponse, error)
	// AdjustStock is sent once: its idempotency key is optional.
	AdjustStock(context.Context, *productsv1.AdjustStockRequest) (*productsv1.Product, error)
	// The inventory methods are internal: orders only.
	ReserveInventory(context.Context, *productsv1.ReserveInventoryRequest) (*productsv1.Reservation, error)
	CommitReservation(context.Context, *productsv1.CommitReservationRequest) (*productsv1.Reservation, error)
	ReleaseReservation(context.Context, *productsv1.ReleaseReservationRequest) (*productsv1.Reservation, error)
	RestockItems(context.Context, *productsv1.RestockItemsRequest) (*productsv1.RestockItemsResponse, error)
	// GetReservation is internal too (orders' consistency checker): a
	// read, NOT_FOUND/RESERVATION_NOT_FOUND when there is none.
	GetReservation(context.Context, *productsv1.GetReservationRequest) (*productsv1.Reservation, error)
	// Close releases the connections; calls fail afterwards.
	Close() error
}

// New returns a Client for the backend cfg describes (see
// kit/boot.Process.Backend); cfg.Service defaults to "products".
func New(cfg sd.BackendConfig) (Client, error) {
	if cfg.Service == "" {
		cfg.Service = Service
	}
	b, err := sd.NewBackend(cfg, productsv1.NewProductsServiceClient)
	if err != nil {
		return nil, err
	}
	type pc = productsv1.ProductsServiceClient
	return &client{
		Backend:            b,
		createProduct:      sd.Unary(b, "CreateProduct", sd.Once, pc.CreateProduct),
		updateProduct:      sd.Unary(b, "UpdateProduct", sd.Once, pc.UpdateProduct),
		getProduct:         sd.Unary(b, "GetProduct", sd.Read, pc.GetProduct),
		batchGetProducts:   sd.Unary(b, "BatchGetProducts", sd.Read, pc.BatchGetProducts),
		searchProducts:     sd.Unary(b, "SearchProducts", sd.Read, pc.SearchProducts),
		adjustStock:        sd.Unary(b, "AdjustStock", sd.Once, pc.AdjustStock),
		reserveInventory:   sd.Unary(b, "ReserveInventory", sd.Keyed, pc.ReserveInventory),
		commitReservation:  sd.Unary(b, "CommitReservation", sd.Keyed, pc.CommitReservation),
		releaseReservation: sd.Unary(b, "ReleaseReservation", sd.Keyed, pc.ReleaseReservation),
		restockItems:       sd.Unary(b, "RestockItems", sd.Keyed, pc.RestockItems),
		getReservation:     sd.Unary(b, "GetReservation", sd.Read, pc.GetReservation),
	}, nil
}

type client struct {
	*sd.Backend[productsv1.ProductsServiceClient]
	createProduct      func(context.Context, *productsv1.CreateProductRequest) (*productsv1.Product, error)
	updateProduct      func(context.Context, *productsv1.UpdateProductRequest) (*productsv1.Product, error)
	getProduct         func(context.Context, *productsv1.GetProductRequest) (*productsv1.Product, error)
	batchGetProducts   func(context.Context, *productsv1.BatchGetProductsRequest) (*productsv1.BatchGetProductsResponse, error)
	searchProducts     func(context.Context, *productsv1.SearchProductsRequest) (*productsv1.SearchProductsResponse, error)
	adjustStock        func(context.Context, *productsv1.AdjustStockRequest) (*productsv1.Product, error)
	reserveInventory   func(context.Context, *productsv1.ReserveInventoryRequest) (*productsv1.Reservation, error)
	commitReservation  func(context.Context, *productsv1.CommitReservationRequest) (*productsv1.Reservation, error)
	releaseReservation func(context.Context, *productsv1.ReleaseReservationRequest) (*productsv1.Reservation, error)
	restockItems       func(context.Context, *productsv1.RestockItemsRequest) (*productsv1.RestockItemsResponse, error)
	getReservation     func(context.Context, *productsv1.GetReservationRequest) (*productsv1.Reservation, error)
}

func (c *client) CreateProduct(ctx context.Context, r *productsv1.CreateProductRequest) (*productsv1.Product, error) {
	return c.createProduct(ctx, r)
}

func (c *client) UpdateProduct(ctx context.Context, r *productsv1.UpdateProductRequest) (*productsv1.Product, error) {
	return c.updateProduct(ctx, r)
}

func (c *client) GetProduct(ctx context.Context, r *productsv1.GetProductRequest) (*productsv1.Product, error) {
	return c.getProduct(ctx, r)
}

func (c *client) BatchGetProducts(ctx context.Context, r *productsv1.BatchGetProductsRequest) (*productsv1.BatchGetProductsResponse, error) {
	return c.batchGetProducts(ctx, r)
}

func (c *client) SearchProducts(ctx context.Context, r *productsv1.SearchProductsRequest) (*productsv1.SearchProductsResponse, error) {
	return c.searchProducts(ctx, r)
}

func (c *client) AdjustStock(ctx context.Context, r *productsv1.AdjustStockRequest) (*productsv1.Product, error) {
	return c.adjustStock(ctx, r)
}

func (c *client) ReserveInventory(ctx context.Context, r *productsv1.ReserveInventoryRequest) (*productsv1.Reservation, error) {
	return c.reserveInventory(ctx, r)
}

func (c *client) CommitReservation(ctx context.Context, r *productsv1.CommitReservationRequest) (*productsv1.Reservation, error) {
	return c.commitReservation(ctx, r)
}

func (c *client) ReleaseReservation(ctx context.Context, r *productsv1.ReleaseReservationRequest) (*productsv1.Reservation, error) {
	return c.releaseReservation(ctx, r)
}

func (c *client) RestockItems(ctx context.Context, r *productsv1.RestockItemsRequest) (*productsv1.RestockItemsResponse, error) {
	return c.restockItems(ctx, r)
}

func (c *client) GetReservation(ctx context.Context, r *productsv1.GetReservationRequest) (*productsv1.Reservation, error) {
	return c.getReservation(ctx, r)
}
