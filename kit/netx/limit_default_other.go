//go:build !unix

package netx

func openFileLimit() uint64 { return 0 }
