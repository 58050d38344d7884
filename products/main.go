package main

// TEMPORARY until the kit wiring exists.
func main() {}
