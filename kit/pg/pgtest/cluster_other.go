//go:build !unix

package pgtest

import (
	"context"
	"errors"
)

// cluster is not supported off unix: the helper needs fork-time control of
// the server's identity and lifetime.
type cluster struct{ port int }

func startCluster(context.Context) (*cluster, error) {
	return nil, errors.New("DATABASE_URL is unset and throwaway clusters are only supported on unix; " +
		"set DATABASE_URL to a server whose role may CREATE DATABASE")
}

func (c *cluster) stop() error { return nil }
