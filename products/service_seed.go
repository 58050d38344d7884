package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/config"
)

// demoProducts is the catalog `make run` starts with, so that the
// README's curl session has something to list, search (q=coffee finds
// several) and order. SKUs start with DEMO- so an operator can tell them
// from real ones; prices are USD cents.
var demoProducts = []NewProduct{
	{SKU: "DEMO-KIT-001", Category: "kitchen", PriceCents: 2499, Stock: 120, Name: "Pour-over coffee dripper",
		Description: "Ceramic cone dripper for one or two cups of filter coffee. Fits standard #2 paper filters and keeps the brew hot."},
	{SKU: "DEMO-KIT-002", Category: "kitchen", PriceCents: 8999, Stock: 60, Name: "Conical burr coffee grinder",
		Description: "Steel burr grinder with 18 settings, from espresso-fine to French-press coarse, and a quiet low-speed motor."},
	{SKU: "DEMO-KIT-003", Category: "kitchen", PriceCents: 4599, Stock: 80, Name: "Gooseneck kettle",
		Description: "One-litre stainless steel kettle with a thermometer in the lid, for precise pour-over coffee and tea."},
	{SKU: "DEMO-KIT-004", Category: "kitchen", PriceCents: 3499, Stock: 150, Name: "Cast iron skillet, 10 inch",
		Description: "Pre-seasoned cast iron pan that goes from the stovetop to the oven to the campfire."},
	{SKU: "DEMO-BOOK-001", Category: "books", PriceCents: 2799, Stock: 250, Name: "The Home Barista's Handbook",
		Description: "Brewing coffee at home, explained: beans, roast, grind, water and the chemistry of a good extraction."},
	{SKU: "DEMO-BOOK-002", Category: "books", PriceCents: 3999, Stock: 200, Name: "Distributed Systems, Plainly",
		Description: "A practical guide to consensus, replication and failure handling, with worked examples in Go."},
	{SKU: "DEMO-GDN-001", Category: "garden", PriceCents: 3299, Stock: 300, Name: "Expandable garden hose, 50 ft",
		Description: "Lightweight hose that expands under water pressure, with a brass connector and an eight-pattern spray nozzle."},
	{SKU: "DEMO-GDN-002", Category: "garden", PriceCents: 1899, Stock: 400, Name: "Bypass pruning shears",
		Description: "Hardened steel blades and a safety lock, for clean cuts on stems and branches up to 3/4 inch."},
	{SKU: "DEMO-GDN-003", Category: "garden", PriceCents: 12999, Stock: 50, Name: "Raised garden bed, cedar",
		Description: "Untreated cedar bed, 4 by 2 ft and 11 inches deep, for vegetables and herbs; assembles without tools."},
	{SKU: "DEMO-ELEC-001", Category: "electronics", PriceCents: 14999, Stock: 90, Name: "Wireless noise-cancelling headphones",
		Description: "Over-ear Bluetooth headphones with 30 hours of battery, fast USB-C charging and a foldable case."},
	{SKU: "DEMO-ELEC-002", Category: "electronics", PriceCents: 3999, Stock: 500, Name: "USB-C charger, 65 W",
		Description: "Compact GaN wall charger with two USB-C ports and one USB-A port: a laptop and a phone at once."},
	{SKU: "DEMO-ELEC-003", Category: "electronics", PriceCents: 5499, Stock: 70, Name: "Smart coffee scale",
		Description: "Kitchen scale with a built-in timer and 0.1 g resolution, for dialling in espresso and pour-over coffee."},
}

// demoCurrency is the demo catalog's currency.
const demoCurrency = "USD"

// SeedResult says what SeedDemo did.
type SeedResult struct {
	// Created counts the demo products this call created; Existing those
	// that were there already (seeded by an earlier start or by another
	// instance at the same moment).
	Created, Existing int
	// Skipped is true when the catalog holds products other than the demo
	// ones: it is someone's real catalog, and demo data is not added to it.
	Skipped bool
}

// errStopListing ends ListProducts after its first batch.
var errStopListing = errors.New("stop listing")

// SeedDemo fills an empty catalog with the demo products, through svc, so
// validation and the store's own transaction apply to each. It is safe to
// run on every start and on several instances at once against one
// database:
//   - a catalog holding any product that is not a demo one is left alone;
//   - a catalog holding nothing, or only some of the demo products (a
//     seed cut short by a crash or by the start-up timeout), gets the
//     missing ones, so a second start creates nothing;
//   - a demo product that a concurrent instance created since the look
//     at the catalog is ErrSKUTaken from the store, which counts as
//     Existing, not as a failure: SKU uniqueness is what prevents
//     duplicates.
//
// Any other error ends the seed and is returned with what was done.
func SeedDemo(ctx context.Context, svc Service) (SeedResult, error) {
	demo := make(map[string]bool, len(demoProducts))
	for _, p := range demoProducts {
		demo[p.SKU] = true
	}
	// One batch of len+1 products is enough: if none of them is foreign,
	// the catalog holds at most the demo products (there cannot be more
	// of those than there are demo SKUs).
	var res SeedResult
	present := map[string]bool{}
	err := svc.ListProducts(ctx, len(demoProducts)+1, func(batch []Product) error {
		for _, p := range batch {
			res.Skipped = res.Skipped || !demo[p.SKU]
			present[p.SKU] = true
		}
		return errStopListing
	})
	if err != nil && !errors.Is(err, errStopListing) {
		return res, fmt.Errorf("look at the catalog: %w", err)
	}
	if res.Skipped {
		return res, nil
	}
	for _, p := range demoProducts {
		if present[p.SKU] {
			res.Existing++
			continue
		}
		p.Currency = demoCurrency
		_, err := svc.CreateProduct(ctx, p)
		switch {
		case errors.Is(err, ErrSKUTaken): // another instance's seed won the race
			res.Existing++
		case err != nil:
			return res, fmt.Errorf("create demo product %s: %w", p.SKU, err)
		default:
			res.Created++
		}
	}
	return res, nil
}

// seedDemoAtStart is SeedDemo as a start-up step: bounded by the start-up
// timeout (KITSHOP_STARTUP_TIMEOUT) like the wait for Postgres, and
// logged. An error stops the process: the operator asked for demo data
// and would otherwise get a silently empty catalog.
func seedDemoAtStart(ctx context.Context, svc Service, timeout time.Duration, logger log.Logger) error {
	if timeout <= 0 {
		timeout = config.DefaultStartupTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := SeedDemo(ctx, svc)
	switch {
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("seeding demo products did not finish within the start-up timeout of %v (-startup-timeout, KITSHOP_STARTUP_TIMEOUT), %d created: %w",
			timeout, res.Created, err)
	case err != nil:
		return fmt.Errorf("seeding demo products (%d created): %w", res.Created, err)
	case res.Skipped:
		_ = level.Info(logger).Log("msg", "demo products not seeded: the catalog already holds other products")
	default:
		_ = level.Info(logger).Log("msg", "demo products seeded", "created", res.Created, "already_there", res.Existing)
	}
	return nil
}
