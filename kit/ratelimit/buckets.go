package ratelimit

import (
	"encoding/binary"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// bucket is one client's token bucket, linked into its shard's
// recency list.
type bucket struct {
	key  bucketKey
	lim  *rate.Limiter
	tier int
	// gen is the share generation lim's rate and burst were set for; a
	// bucket from an older generation is brought up to date when next
	// used (see Limiter.SetShare).
	gen      uint64
	lastUsed time.Time
	// prev is towards the most recently used end, next towards the least.
	prev, next *bucket
}

// shard is a part of the bucket table with its own lock and its own LRU
// order, so that requests from different clients rarely wait for each
// other. Eviction is least-recently-used within the shard: with clients
// spread by a seeded hash this approximates a global LRU closely.
type shard struct {
	mu      sync.Mutex
	buckets map[bucketKey]*bucket
	// root is the sentinel of the recency list: root.next is the most
	// recently used bucket, root.prev the least.
	root bucket
	cap  int
	// Keep neighbouring shards' locks off each other's cache line.
	_ [64]byte
}

func (s *shard) init(capacity int) {
	s.buckets = make(map[bucketKey]*bucket)
	s.root.next, s.root.prev = &s.root, &s.root
	s.cap = capacity
}

// oldest is the least recently used bucket, or nil.
func (s *shard) oldest() *bucket {
	if s.root.prev == &s.root {
		return nil
	}
	return s.root.prev
}

func (s *shard) unlink(b *bucket) {
	b.prev.next, b.next.prev = b.next, b.prev
	b.prev, b.next = nil, nil
}

// pushFront links b as the most recently used bucket.
func (s *shard) pushFront(b *bucket) {
	b.prev, b.next = &s.root, s.root.next
	s.root.next.prev = b
	s.root.next = b
}

// touch marks b used now.
func (s *shard) touch(b *bucket, now time.Time) {
	b.lastUsed = now
	if s.root.next != b {
		s.unlink(b)
		s.pushFront(b)
	}
}

func (s *shard) remove(b *bucket) {
	s.unlink(b)
	delete(s.buckets, b.key)
}

// evictIdle removes the buckets unused for at least idle, oldest first,
// and returns how many it removed. The recency list is ordered by last
// use, so it stops at the first bucket used more recently: the cost is
// one comparison plus one step per bucket removed.
func (s *shard) evictIdle(now time.Time, idle time.Duration) int {
	n := 0
	for b := s.oldest(); b != nil && now.Sub(b.lastUsed) >= idle; b = s.oldest() {
		s.remove(b)
		n++
	}
	return n
}

// shardCount picks the number of shards for maxClients: a power of two,
// up to maxShards, with at least minPerShard buckets each so that the
// per-shard LRU stays a fair approximation of a global one.
func shardCount(maxClients int) int {
	const maxShards, minPerShard = 64, 64
	n := maxShards
	for n > 1 && maxClients/n < minPerShard {
		n /= 2
	}
	return n
}

// shardIndex spreads keys over shards. seed is random per Limiter, so a
// client cannot choose addresses that all land on one shard's lock.
func shardIndex(k bucketKey, seed uint64, mask uint64) uint64 {
	h := seed ^ uint64(k.apiKey)
	h = mix(h ^ binary.LittleEndian.Uint64(k.ip[:8]))
	h = mix(h ^ binary.LittleEndian.Uint64(k.ip[8:]))
	return h & mask
}

// mix is the splitmix64 finaliser: every input bit affects every output
// bit, which a shard index taken from the low bits needs.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
