#!/bin/sh
# One role and one database per kitshop service, each role allowed into its
# own database only (ARCHITECTURE.md: no service reads another's tables).
# The postgres image runs this once, when its data volume is new, as the
# superuser over the local socket; the passwords come from the container's
# environment (ops/compose.yaml, from ops/compose.env).
set -eu

services="users products orders payments"

password_of() {
	var="$(printf '%s' "$1" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
	eval "printf '%s' \"\${$var:-}\""
}

# Every password first: the image runs its init scripts only on an empty
# volume, so failing halfway would leave a database that is never finished.
for svc in $services; do
	if [ -z "$(password_of "$svc")" ]; then
		echo "10-kitshop-databases: $(printf '%s' "$svc" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD is not set (see ops/compose.env.example)" >&2
		exit 1
	fi
done

for svc in $services; do
	# psql variables quote the name (:"svc") and the password (:'pw'), so
	# neither can break out of the statement.
	psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres \
		--set svc="$svc" --set pw="$(password_of "$svc")" <<'SQL'
CREATE ROLE :"svc" LOGIN PASSWORD :'pw';
CREATE DATABASE :"svc" OWNER :"svc";
REVOKE ALL ON DATABASE :"svc" FROM PUBLIC;
SQL
	echo "10-kitshop-databases: database $svc, owned by role $svc"
done
