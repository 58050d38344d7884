#!/usr/bin/env bash
# Writes the dev overlay's Secret files (*.env beside this script) with
# fresh random passwords, keeping any file that already exists, so it is
# safe to run again. Each *.env.example shows a file's shape.
#
#   bash ops/k8s/overlays/dev/secrets/generate.sh
set -euo pipefail
cd "$(dirname "$0")"
umask 077

random() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

write() { # file, content
	if [[ -e $1 ]]; then
		echo "kept    $1"
		return
	fi
	printf '%s\n' "$2" >"$1"
	echo "wrote   $1"
}

write postgres-superuser.env "password=$(random)"
for service in users products orders payments; do
	pw=$(random)
	write "$service-database.env" "password=$pw
url=postgres://$service:$pw@postgres:5432/$service?sslmode=disable"
done
write gateway-api-keys.env "api-keys=dev-$(random):pro"
write gateway-session.env "session-key=$(head -c 32 /dev/urandom | base64)"
write users-admin.env "email=admin@example.com
password=$(random)"
