package kittest

// FastSagas is the environment under which orders takes over a dead
// instance's sagas within seconds rather than the production default
// (and instances leave the registry within 3 s), so that process tests
// that kill instances stay short. The platform's behaviour is the same.
var FastSagas = []string{
	"KITSHOP_ORDERS_LEASE_TTL=2s", "KITSHOP_ORDERS_RESUME_INTERVAL=300ms", "KITSHOP_REGISTER_TTL=3s",
}
