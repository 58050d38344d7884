package sd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"

	"google.golang.org/grpc/metadata"
)

// MetadataRouteKey carries a call's route key between processes, so that
// orders' calls on behalf of one client land on the same version of
// products as the gateway's own calls for that client.
const MetadataRouteKey = "kitshop-route-key"

// maxRouteKey bounds a route key read from a caller's metadata; ours are
// 16 hex digits.
const maxRouteKey = 64

type routeKeyKey struct{}

// RouteKeyOf is the route key of a client identity ("user:<id>",
// "api-key:...", "ip:..."): a short hash, so the identity itself (an API
// key's fingerprint, a client address) never travels in metadata. It is
// a routing hint that keeps a client on one version during a rollout step,
// never an identity: nothing may trust or authorise by it.
func RouteKeyOf(identity string) string {
	sum := sha256.Sum256([]byte(identity))
	return hex.EncodeToString(sum[:8])
}

// WithRouteKey returns ctx carrying key (from RouteKeyOf) for the
// Backends' version choice and for the calls they make.
func WithRouteKey(ctx context.Context, key string) context.Context {
	if key == "" {
		return ctx
	}
	return context.WithValue(ctx, routeKeyKey{}, key)
}

// RouteKey is ctx's route key: the one set with WithRouteKey, else the
// one the calling process sent in gRPC metadata, else "". A malformed
// value from a caller is ignored rather than trusted.
func RouteKey(ctx context.Context) string {
	if k, ok := ctx.Value(routeKeyKey{}).(string); ok {
		return k
	}
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return ""
	}
	vals := md.Get(MetadataRouteKey)
	if len(vals) == 0 || !validRouteKey(vals[0]) {
		return ""
	}
	return vals[0]
}

func validRouteKey(k string) bool {
	if k == "" || len(k) > maxRouteKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
