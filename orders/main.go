// Command orders places orders through the checkout saga (API.md, Orders)
// over HTTP on :8083 and gRPC on :9083.
package main

func main() {}
