package main

import (
	"net"
	"sync"
	"time"
)

// Proxy is a TCP fault proxy in front of one instance: the registry lists
// the proxy's address, so every caller's traffic to the instance passes
// through it, and the proxy decides what the network does.
//
//   - pass: forwards both ways.
//   - blackhole: a partition. Nothing moves in either direction; bytes
//     already sent wait in the kernel's buffers, and new connections are
//     accepted but never forwarded (as a dropped SYN-ACK path looks to a
//     client that has a connect timeout: it hangs). On heal everything
//     resumes, as TCP does after a short partition.
//   - drop: every open connection is reset and new ones are reset at
//     once (a crashed host's RST, or a firewall's REJECT).
//   - latency: every byte towards the instance is delivered d later (one
//     way, pipelined: throughput is unchanged, each request waits d).
type Proxy struct {
	ln       net.Listener
	upstream string

	mu      sync.Mutex
	mode    string
	latency time.Duration
	healed  chan struct{} // closed when the mode leaves blackhole
	conns   map[net.Conn]struct{}
	closed  bool
	wg      sync.WaitGroup
}

// Modes.
const (
	ModePass      = "pass"
	ModeBlackhole = "blackhole"
	ModeDrop      = "drop"
	ModeLatency   = "latency"
)

// dialTimeout bounds connecting to the instance.
const dialTimeout = 5 * time.Second

// NewProxy listens on a free loopback port and forwards to upstream.
func NewProxy(upstream string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, upstream: upstream, mode: ModePass, healed: closedChan(), conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// Addr is where callers reach the instance through the proxy.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Set switches the mode; latency matters only for ModeLatency and
// applies to bytes read from then on.
func (p *Proxy) Set(mode string, latency time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	wasHole := p.mode == ModeBlackhole
	p.mode, p.latency = mode, latency
	switch {
	case mode == ModeBlackhole && !wasHole:
		p.healed = make(chan struct{})
	case mode != ModeBlackhole && wasHole:
		close(p.healed)
	}
	if mode == ModeDrop {
		for c := range p.conns {
			reset(c)
		}
	}
}

// state is the mode, its latency, and a channel closed once traffic may
// flow (already closed unless blackholed).
func (p *Proxy) state() (string, time.Duration, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode, p.latency, p.healed
}

// Close stops the proxy, closes every connection and waits for its
// goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	if p.mode == ModeBlackhole {
		close(p.healed) // release waiters; their connections are closed below
		p.mode = ModePass
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
	c.Close()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	defer p.untrack(client)
	mode, _, healed := p.state()
	if mode == ModeDrop {
		reset(client)
		return
	}
	<-healed // a blackholed connect hangs until the partition heals
	up, err := net.DialTimeout("tcp", p.upstream, dialTimeout)
	if err != nil {
		return
	}
	if !p.track(up) {
		return
	}
	defer p.untrack(up)
	done := make(chan struct{}, 2)
	go func() { p.pump(up, client, true); done <- struct{}{} }()
	go func() { p.pump(client, up, false); done <- struct{}{} }()
	<-done
	// One side ended: end the other, so neither pump outlives the pair.
	client.Close()
	up.Close()
	<-done
}

// chunk is data read at one moment, due for delivery at another.
type chunk struct {
	data []byte
	due  time.Time
}

// pump copies src to dst, holding while blackholed and, towards the
// instance (delayed), delivering each chunk latency after it was read.
func (p *Proxy) pump(dst, src net.Conn, delayed bool) {
	// The queue is bounded: a sender faster than the delay allows blocks
	// on it, as a real link's window would stop it.
	queue := make(chan chunk, 256)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for ch := range queue {
			if wait := time.Until(ch.due); wait > 0 {
				time.Sleep(wait)
			}
			if !p.flow(dst) {
				return
			}
			if _, err := dst.Write(ch.data); err != nil {
				return
			}
		}
	}()
	defer func() {
		close(queue)
		<-writerDone
	}()
	buf := make([]byte, 32<<10)
	for {
		if !p.flow(src) {
			return
		}
		n, err := src.Read(buf)
		if n > 0 {
			mode, latency, _ := p.state()
			due := time.Now()
			if delayed && mode == ModeLatency {
				due = due.Add(latency)
			}
			select {
			case queue <- chunk{data: append([]byte(nil), buf[:n]...), due: due}:
			case <-writerDone:
				return
			}
		}
		if err != nil {
			return // EOF or a closed connection: serve ends the pair
		}
	}
}

// flow waits while the proxy is blackholed and reports whether c may
// still be used (false once the proxy closed).
func (p *Proxy) flow(c net.Conn) bool {
	_, _, healed := p.state()
	<-healed
	p.mu.Lock()
	defer p.mu.Unlock()
	_, open := p.conns[c]
	return open && !p.closed
}

// reset closes c with an RST instead of a FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}
