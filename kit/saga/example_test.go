package saga_test

import (
	"context"
	"fmt"
	"time"

	"github.com/kitshop/kitshop/kit/saga"
)

func ExampleEngine() {
	ctx := context.Background()
	store := saga.NewMemStore()
	transfer := &saga.Definition{Name: "transfer", Steps: []saga.Step{
		{
			Name: "debit",
			Do: func(ctx context.Context, c *saga.Call) error {
				fmt.Println("debit with key", c.Key)
				return c.Encode(map[string]int{"amount": 5})
			},
			Compensate: func(ctx context.Context, c *saga.Call) error {
				fmt.Println("credit back with key", c.Key)
				return nil
			},
		},
		{
			Name: "credit",
			Do: func(ctx context.Context, c *saga.Call) error {
				var d struct{ Amount int }
				if err := c.Decode(&d); err != nil {
					return err
				}
				fmt.Println("credit", d.Amount)
				return nil
			},
		},
	}}
	engine, err := saga.New(saga.Config{Store: store, Definitions: []*saga.Definition{transfer}, Owner: "instance-1"})
	if err != nil {
		panic(err)
	}
	// The caller persists the new saga itself, with its own row.
	if err := store.Create(ctx, saga.NewState(transfer, "t-1", nil, time.Now())); err != nil {
		panic(err)
	}
	st, err := engine.Run(ctx, "t-1")
	fmt.Println(st.Status, err)
	// Output:
	// debit with key t-1/debit
	// credit 5
	// succeeded <nil>
}
