package console

import (
	"flag"

	"github.com/kitshop/kitshop/kit/config"
)

// Flags are the console's settings on the gateway's command line.
type Flags struct {
	// ZipkinUI is Config.ZipkinUI.
	ZipkinUI *string
}

// DefineFlags defines -zipkin-ui-url (KITSHOP_ZIPKIN_UI_URL) on fs.
func DefineFlags(fs *flag.FlagSet) Flags {
	return Flags{
		ZipkinUI: config.String(fs, "zipkin-ui-url", "KITSHOP_ZIPKIN_UI_URL", "",
			"base URL of the Zipkin UI (e.g. http://localhost:9411/zipkin); the console links saga trace ids to <url>/traces/<id>"),
	}
}
