package client

import (
	"context"
	"errors"
	"io"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/sd"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

// StockWatcher follows the stock levels of products (WatchStock).
type StockWatcher interface {
	// WatchStock subscribes to ids and returns the stream of their
	// levels: first each one's current level, then every change. The
	// stream lives until ctx ends or the server ends it (shutdown,
	// SLOW_CONSUMER); it is not resumed, so a caller that wants to keep
	// watching opens another. Opening fails at once, without a call,
	// when the backend's breaker is open or no instance is registered.
	WatchStock(ctx context.Context, ids []string) (StockStream, error)
}

// StockStream is an open WatchStock: Recv returns the next level, or the
// error that ended the stream (io.EOF when the server closed it cleanly).
type StockStream interface {
	Recv() (*productsv1.StockLevel, error)
}

// NewStockWatcher returns the StockWatcher over c's backend: its
// instances, connections and breaker. c must come from New. Build it once
// and share it: each watcher follows discovery on its own.
func NewStockWatcher(c Client) (StockWatcher, error) {
	cl, ok := c.(*client)
	if !ok {
		return nil, errors.New("products client: NewStockWatcher needs a client made by New")
	}
	return &stockWatcher{open: sd.BidiStream(cl.Backend, "WatchStock", productsv1.ProductsServiceClient.WatchStock)}, nil
}

type stockWatcher struct {
	open func(context.Context) (productsv1.ProductsService_WatchStockClient, error)
}

func (w *stockWatcher) WatchStock(ctx context.Context, ids []string) (StockStream, error) {
	if len(ids) == 0 {
		return nil, errs.New(errs.InvalidArgument, errs.ReasonValidation, "no product to watch")
	}
	s, err := w.open(ctx)
	if err != nil {
		return nil, err
	}
	sub := &productsv1.WatchStockRequest{Action: &productsv1.WatchStockRequest_Subscribe{
		Subscribe: &productsv1.StockSubscription{ProductIds: ids}}}
	if err := s.Send(sub); err != nil {
		// Send reports only that the stream is gone; Recv says why.
		if _, rerr := s.Recv(); rerr != nil {
			err = rerr
		}
		return nil, errs.FromGRPC(err)
	}
	// Nothing more is sent: half-closing tells the server so without
	// ending the levels it pushes.
	if err := s.CloseSend(); err != nil {
		return nil, errs.FromGRPC(err)
	}
	return stockStream{s}, nil
}

// stockStream maps the stream's errors into kit/errs, keeping io.EOF.
type stockStream struct {
	s productsv1.ProductsService_WatchStockClient
}

func (s stockStream) Recv() (*productsv1.StockLevel, error) {
	l, err := s.s.Recv()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, errs.FromGRPC(err)
	}
	return l, err
}
