package main

import kitcard "github.com/kitshop/kitshop/kit/card"

// Card data and its checks are kit/card's, shared with orders, which
// validates a card at its edge before the saga reaches Charge.
type (
	Card       = kitcard.Card
	CardNumber = kitcard.CardNumber
	CVC        = kitcard.CVC
	Brand      = kitcard.Brand
)

const (
	BrandVisa       = kitcard.BrandVisa
	BrandMastercard = kitcard.BrandMastercard
	BrandAmex       = kitcard.BrandAmex
	BrandDiscover   = kitcard.BrandDiscover
	BrandUnknown    = kitcard.BrandUnknown
)
