// Package control is the launcher's control socket (`make run` serves it
// at .run/launcher.sock): its protocol, the server the launcher runs, and
// the client that ops/rollout and ops/chaos use.
//
// The protocol is one JSON object per line each way, request then
// response, any number of them on one connection:
//
//	{"op":"list"}
//	{"op":"start","service":"payments","env":["KITSHOP_SERVICE_VERSION=v2"]}
//	{"op":"stop","pid":4242}      SIGTERM, then wait (bounded) for the exit
//	{"op":"kill","pid":4242}      SIGKILL
//	{"op":"pause","pid":4242}     SIGSTOP (resume sends SIGCONT)
//
// and each answer is {"ok":true,...} or {"ok":false,"error":"..."}. JSON
// lines rather than a bespoke text syntax so that a shell user can still
// type them (socat - UNIX:.run/launcher.sock) while programs never parse
// free text. The socket is mode 0600 in a 0700 directory, and on Linux
// the server also checks the peer's uid: only the user who ran the
// launcher can drive it.
package control

import (
	"fmt"
	"time"
)

// MaxLine bounds one request line. Requests are tiny; a longer line is a
// client bug or garbage, answered with an error and the connection closed
// (the rest of the line cannot be resynchronised cheaply).
const MaxLine = 64 << 10

// Operations.
const (
	OpList   = "list"
	OpStart  = "start"
	OpStop   = "stop"
	OpKill   = "kill"
	OpPause  = "pause"
	OpResume = "resume"
)

// Request is one line from a client.
type Request struct {
	Op string `json:"op"`
	// Service names what to start, or filters list ("" lists everything).
	Service string `json:"service,omitempty"`
	// Env is extra KITSHOP_* settings for start, e.g.
	// KITSHOP_FAULT_LATENCY=2s or KITSHOP_SERVICE_VERSION=v2.
	Env []string `json:"env,omitempty"`
	// PID names the instance for stop, kill, pause and resume.
	PID int `json:"pid,omitempty"`
}

// Response is the answer to one Request.
type Response struct {
	OK        bool       `json:"ok"`
	Error     string     `json:"error,omitempty"`
	Instances []Instance `json:"instances,omitempty"`
	// Instance is what start started or what stop/kill ended.
	Instance *Instance `json:"instance,omitempty"`
}

// Instance is one process the launcher runs.
type Instance struct {
	Service string `json:"service"`
	PID     int    `json:"pid"`
	// HTTPAddr and GRPCAddr are where the process listens, as it logged
	// them at start ("" until then; GRPCAddr is "" for processes without
	// gRPC, and the registry's is its etcd client address).
	HTTPAddr string `json:"http_addr"`
	GRPCAddr string `json:"grpc_addr,omitempty"`
	// Version is KITSHOP_SERVICE_VERSION as the instance was started
	// with ("" = the build's default).
	Version   string    `json:"version,omitempty"`
	StartedAt time.Time `json:"started_at"`
	// Extra is true for instances started through the socket.
	Extra  bool `json:"extra,omitempty"`
	Paused bool `json:"paused,omitempty"`
}

func (in Instance) String() string {
	s := fmt.Sprintf("%s[pid %d]", in.Service, in.PID)
	if in.Version != "" {
		s += "@" + in.Version
	}
	return s
}
