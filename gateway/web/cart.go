package web

// The cart lives in the sealed session cookie, not in a server-side
// store: the gateway stays stateless (any instance serves any request, a
// restart loses nothing, there is no store to size, expire or fail), and
// a cart is small. The cookie's size bounds it: maxCartLines lines of at
// most maxLineQuantity each. Prices are never kept: every page reads
// them from the catalog, and the order copies them when it is placed.

const (
	maxCartLines    = 20
	maxLineQuantity = 99
)

type cartLine struct {
	ProductID string `json:"p"`
	Quantity  int64  `json:"q"`
}

type cart []cartLine

// add adds quantity of product, capping the line at maxLineQuantity. It
// reports false when the cart is full and product is not in it.
func (c *cart) add(product string, quantity int64) bool {
	for i := range *c {
		if (*c)[i].ProductID == product {
			(*c)[i].Quantity = min((*c)[i].Quantity+quantity, maxLineQuantity)
			return true
		}
	}
	if len(*c) >= maxCartLines {
		return false
	}
	*c = append(*c, cartLine{ProductID: product, Quantity: min(quantity, maxLineQuantity)})
	return true
}

// set sets product's quantity; zero removes the line.
func (c *cart) set(product string, quantity int64) {
	out := (*c)[:0]
	for _, l := range *c {
		if l.ProductID != product {
			out = append(out, l)
		} else if quantity > 0 {
			out = append(out, cartLine{ProductID: product, Quantity: min(quantity, maxLineQuantity)})
		}
	}
	*c = out
}

func (c cart) ids() []string {
	ids := make([]string, len(c))
	for i, l := range c {
		ids[i] = l.ProductID
	}
	return ids
}

func (c cart) count() int64 {
	var n int64
	for _, l := range c {
		n += l.Quantity
	}
	return n
}
