package main

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	ordersclient "github.com/kitshop/kitshop/orders/client"
	ordersv1 "github.com/kitshop/kitshop/pb/orders/v1"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
	productsclient "github.com/kitshop/kitshop/products/client"
)

// enrichTimeout bounds the catalog lookup of an order read: the order is
// the answer, the names are a courtesy, so a slow products service may
// cost a read this much and no more.
const enrichTimeout = 500 * time.Millisecond

// notEnriched is the Warning (RFC 9110 5.5, code 199 "miscellaneous")
// of an order answered without the catalog's names.
const notEnriched = `199 kitshop-gateway "items not enriched: the product catalog is unavailable"`

// enrichedOrders is orders' API as the gateway serves it: GetOrder's
// items carry the catalog's current sku and name, looked up with one
// BatchGetProducts. The order never fails because of the lookup: without
// products it is answered as orders stored it (the sku and name of when
// it was placed) with a Warning header.
type enrichedOrders struct {
	ordersclient.Client
	products productsclient.Client
}

func (e enrichedOrders) GetOrder(ctx context.Context, req *ordersv1.GetOrderRequest) (*ordersv1.Order, error) {
	order, err := e.Client.GetOrder(ctx, req)
	if err != nil || len(order.GetItems()) == 0 {
		return order, err
	}
	if err := e.enrich(ctx, order.GetItems()); err != nil {
		_ = grpc.SetHeader(ctx, metadata.Pairs(ordersclient.WarningMetadata, notEnriched))
	}
	return order, nil
}

// enrich fills items' sku and name from the catalog. A product the
// catalog no longer knows keeps what the order recorded.
func (e enrichedOrders) enrich(ctx context.Context, items []*ordersv1.OrderItem) error {
	ids := make([]string, 0, len(items))
	seen := make(map[string]bool, len(items))
	for _, it := range items {
		if id := it.GetProductId(); !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, enrichTimeout)
	defer cancel()
	resp, err := e.products.BatchGetProducts(ctx, &productsv1.BatchGetProductsRequest{Ids: ids})
	if err != nil {
		return err
	}
	byID := make(map[string]*productsv1.Product, len(resp.GetProducts()))
	for _, p := range resp.GetProducts() {
		byID[p.GetId()] = p
	}
	for _, it := range items {
		if p, ok := byID[it.GetProductId()]; ok {
			it.Sku, it.Name = p.GetSku(), p.GetName()
		}
	}
	return nil
}
