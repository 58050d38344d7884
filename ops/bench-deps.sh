#!/usr/bin/env bash
# Installs what `make bench` needs besides make test's dependencies: nginx,
# which the gateway benchmark (ops/e2e BenchmarkGatewayGetProduct) runs as
# a plain reverse proxy in front of products for comparison. It is
# optional: without it that row of the table is skipped, so a machine
# where it cannot be installed still benchmarks, with a warning.
#
# Cheap when nginx is present (it only looks). The benchmark starts its
# own nginx on a loopback port with a temporary configuration; this
# script must not leave the distribution's nginx service running on :80,
# so the package's start-on-install is suppressed.
set -euo pipefail

if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "bench-deps: nginx is missing and there is no apt-get here; the nginx comparison will be skipped" >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "bench-deps: need root or sudo to install nginx; the nginx comparison will be skipped" >&2
    exit 0
  fi
  sudo="sudo"
fi

# Debian's maintainer scripts start a service after installing it unless
# policy-rc.d says no (101). Containers usually have one; add it for the
# install when missing, and remove only what was added.
policy=/usr/sbin/policy-rc.d
added_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  added_policy=1
fi
cleanup() { if [ -n "$added_policy" ]; then $sudo rm -f "$policy"; fi; }
trap cleanup EXIT

echo "bench-deps: installing nginx (for the gateway benchmark's reverse-proxy comparison)"
if ! { $sudo apt-get update -qq &&
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nginx >/dev/null; }; then
  echo "bench-deps: installing nginx failed; the nginx comparison will be skipped" >&2
fi
