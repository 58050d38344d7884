package config

import "runtime/debug"

// Version is the build's version, set at link time:
//
//	go build -ldflags "-X github.com/kitshop/kitshop/kit/config.Version=v1.4.0"
//
// When empty, BuildVersion falls back to the module version Go recorded.
var Version string

// BuildVersion is the version an instance reports and registers by
// default: Version, else the main module's version from the build info,
// else "dev" (go run and plain go build record "(devel)").
func BuildVersion() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
