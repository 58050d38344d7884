#!/usr/bin/env bash
# trace-screenshot.sh: a PNG of one order's trace in the Jaeger UI, as the
# README shows it (docs/images/order-trace.png), taken with headless
# Chromium (Debian's `chromium`).
#
# Usage: ops/trace-screenshot.sh [TRACE_ID] [OUT.png]
#   TRACE_ID  defaults to the newest `POST /api/v1/orders` trace the
#             gateway reported in the last hour (the response's
#             traceparent header names it too: 00-<trace id>-<span id>-01)
#   OUT.png   defaults to docs/images/order-trace.png
# Environment:
#   JAEGER_URL  the Jaeger query service, default http://localhost:16686
#   CHROMIUM    the browser, default the first of chromium, chromium-browser,
#               google-chrome on PATH
#   WIDTH       the window's width in pixels, default 1600; its height is
#               fitted to the trace, so that every span's row is in the picture
#   NAME_COLUMN the share of the width given to the span names, default 0.4
#               (the UI's own default, 0.25, cuts the deeper rows' names)
#
# It needs a running Jaeger holding the trace, with its UI: a jaeger binary
# built from the module alone serves a placeholder page instead, because the
# UI's assets come from a git submodule the module does not carry (build
# jaeger-ui and embed it, as Jaeger's `make build-ui` does). The steps:
#   1. make run TRACES=1 with that jaeger on PATH (the launcher starts it);
#   2. place one order through the gateway (the README's "Trying it");
#   3. ops/trace-screenshot.sh
# Needs curl and jq.
set -euo pipefail

jaeger=${JAEGER_URL:-http://localhost:16686}
jaeger=${jaeger%/}
width=${WIDTH:-1600}
name_column=${NAME_COLUMN:-0.4}
trace=${1:-}
out=${2:-docs/images/order-trace.png}

die() { echo "trace-screenshot: $*" >&2; exit 1; }

for tool in curl jq; do
  command -v "$tool" >/dev/null || die "$tool is not on PATH"
done
browser=${CHROMIUM:-}
if [[ -z $browser ]]; then
  for b in chromium chromium-browser google-chrome; do
    if command -v "$b" >/dev/null; then browser=$b; break; fi
  done
fi
[[ -n $browser ]] || die "no chromium on PATH (apt-get install chromium) and CHROMIUM unset"

# Every call to Jaeger is bounded: a hung backend fails the script, it does
# not hang it.
api() { curl -fsS --max-time 10 -G "$jaeger$1" "${@:2}"; }

if [[ -z $trace ]]; then
  # The tags are the gateway's server span's: method and route of a checkout.
  trace=$(api /api/traces --data-urlencode service=gateway \
      --data-urlencode 'tags={"http.method":"POST","http.path":"/api/v1/orders"}' \
      --data-urlencode lookback=1h --data-urlencode limit=100 \
    | jq -r '[.data[] | {id: .traceID, start: ([.spans[].startTime] | min)}]
             | max_by(.start) | .id // empty') ||
    die "cannot query $jaeger (is Jaeger running?)"
  [[ -n $trace ]] || die "no POST /api/v1/orders trace from the gateway in the last hour at $jaeger: place an order first"
fi
[[ $trace =~ ^[0-9a-f]{16}([0-9a-f]{16})?$ ]] || die "not a trace id: $trace"
[[ $width =~ ^[0-9]+$ ]] || die "WIDTH is a number of pixels, not $width"
[[ $name_column =~ ^0?\.[0-9]+$ ]] || die "NAME_COLUMN is a fraction such as 0.4, not $name_column"

spans=$(api "/api/traces/$trace" | jq '.data[0].spans | length') ||
  die "trace $trace not found at $jaeger"
# The trace page is a header (about 265 px: navigation, summary, minimap,
# column titles) above one row of about 28 px per span, at the UI's default
# zoom. A window that tall shows every row without scrolling; the cap keeps
# a runaway trace from making a huge image.
height=$((265 + 28 * spans + 25))
((height <= 6000)) || height=6000

mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The UI reads the name column's width from localStorage when it starts,
# and headless Chromium has no flag to set it: a throwaway extension's
# content script does, before the UI's own scripts run.
mkdir "$tmp/ext"
cat >"$tmp/ext/manifest.json" <<'JSON'
{"manifest_version": 3, "name": "kitshop trace screenshot", "version": "1",
 "content_scripts": [{"matches": ["http://*/*", "https://*/*"],
                      "js": ["layout.js"], "run_at": "document_start"}]}
JSON
echo "localStorage.setItem('spanNameColumnWidth', '$name_column');" >"$tmp/ext/layout.js"
# The UI is a JavaScript app that fetches the trace after load: the virtual
# time budget lets it finish before the picture is taken. --user-data-dir
# keeps a fresh profile, so no saved layout or theme alters the picture.
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --user-data-dir="$tmp/profile" --window-size="$width,$height" \
  --load-extension="$tmp/ext" --disable-extensions-except="$tmp/ext" \
  --virtual-time-budget=10000 --screenshot="$tmp/trace.png" \
  "$jaeger/trace/$trace" >"$tmp/chromium.log" 2>&1 ||
  die "chromium failed: $(tail -n 5 "$tmp/chromium.log")"
[[ -s $tmp/trace.png ]] || die "chromium wrote no screenshot: $(tail -n 5 "$tmp/chromium.log")"
mv "$tmp/trace.png" "$out"
echo "trace $trace ($spans spans) -> $out ($(wc -c <"$out") bytes)"
