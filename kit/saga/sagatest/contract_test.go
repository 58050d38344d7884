package sagatest_test

import (
	"testing"

	"github.com/kitshop/kitshop/kit/saga"
	"github.com/kitshop/kitshop/kit/saga/sagatest"
)

func TestMemStoreContract(t *testing.T) {
	sagatest.StoreContract(t, func(*testing.T) sagatest.Store { return saga.NewMemStore() })
}
