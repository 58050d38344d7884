#!/usr/bin/env bash
# Installs what `make test` needs besides Go: protoc and the well-known
# .proto files (the pb/ freshness check), the PostgreSQL server
# binaries (the test harness starts throwaway clusters with them; pgbench,
# for `make bench`, comes with them on Debian), and promtool, from
# Debian's prometheus package (the tests check every process's /metrics,
# the Prometheus configuration and the alert rules with it), and openssl
# (ops/k8s's certificate script).
#
# `make test` runs this first, so it must stay cheap: when everything is
# present it only looks (a few milliseconds) and changes nothing. Only what
# is missing is installed, with apt-get (Debian, Ubuntu); elsewhere it says
# what to install. `make run` needs none of this, only Go.
set -euo pipefail

# pg_bin_ok reports whether initdb and postgres sit side by side somewhere
# the test harness (kit/pg/pgtest) looks: PATH, then the Debian layout.
pg_bin_ok() {
  local d dirs=()
  if command -v initdb >/dev/null 2>&1; then
    dirs+=("$(dirname "$(command -v initdb)")")
  fi
  for d in /usr/lib/postgresql/*/bin; do dirs+=("$d"); done
  for d in "${dirs[@]}"; do
    [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && return 0
  done
  return 1
}

pgbench_ok() {
  command -v pgbench >/dev/null 2>&1 && return 0
  compgen -G '/usr/lib/postgresql/*/bin/pgbench' >/dev/null
}

need=()
command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler)
[ -f /usr/include/google/protobuf/timestamp.proto ] || need+=(libprotobuf-dev)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
# ops/k8s checks the certificate script that clusters without cert-manager use.
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# ops/e2e's browser test drives headless Chromium (chromedp).
[ -x /usr/bin/chromium ] || [ -n "${KITSHOP_CHROMIUM:-}" ] || need+=(chromium)
# With DATABASE_URL set the tests use that server and need no binaries.
if [ -z "${DATABASE_URL:-}" ] && { ! pg_bin_ok || ! pgbench_ok; }; then
  need+=(postgresql-server)
fi

if [ ${#need[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: missing ${need[*]}, and there is no apt-get here." >&2
    echo "  Install protoc (with the well-known .proto files under /usr/include), promtool (Prometheus) and the PostgreSQL server" >&2
    echo "  (macOS: brew install protobuf prometheus postgresql@15), or set DATABASE_URL to a server whose role may CREATE DATABASE." >&2
    exit 1
  fi
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root or sudo to install ${need[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "install-deps: installing what is missing: ${need[*]}"
  $sudo apt-get update -qq
  pkgs=()
  for p in "${need[@]}"; do
    if [ "$p" = postgresql-server ]; then
      # PostgreSQL 15 where the release has it (Debian 12), else the
      # release's own version: the harness takes the newest it finds.
      if apt-cache show postgresql-15 >/dev/null 2>&1; then p=postgresql-15; else p=postgresql; fi
    fi
    pkgs+=("$p")
  done
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  # The prometheus package was only wanted for promtool: on a systemd host
  # it also enables and starts a Prometheus server on :9090, which nothing
  # here asked for.
  if [[ " ${pkgs[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  fi
fi

# The Postgres binaries refuse to run as root; the test harness runs them as
# this user when it is root.
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home /var/lib/postgresql --shell /bin/bash postgres
fi
