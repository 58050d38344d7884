package netx

// Bounds of DefaultMaxConns.
const (
	minDefaultConns = 64
	maxDefaultConns = 16384
)

// DefaultMaxConns is the per-listener connection limit a kitshop process
// uses: a quarter of the open-file limit, so that its two listeners
// together never hold more than half of the descriptors and Postgres,
// etcd and log files always find one, bounded to [64, 16384]. With the
// common limit of 1024 that is 256 connections a listener; a kitshop
// client keeps one multiplexed gRPC connection per instance, and the
// gateway a keep-alive pool, so real traffic needs far fewer.
func DefaultMaxConns() int {
	n := openFileLimit() / 4
	switch {
	case n < minDefaultConns:
		return minDefaultConns
	case n > maxDefaultConns:
		return maxDefaultConns
	}
	return int(n)
}
