#!/usr/bin/env bash
# Runs once, when the Postgres data directory is first initialised (the
# official image runs /docker-entrypoint-initdb.d/* then, never again).
#
# One login role and one database per service, each owned by its role:
# a service cannot connect to another's database (CONNECT is revoked from
# PUBLIC), and inside its own it creates the schema named after itself on
# start. Passwords come from each service's <service>-database Secret
# (key "password"), the same Secret whose "url" the service connects with,
# through the container's environment (<SERVICE>_DB_PASSWORD).
set -euo pipefail

for service in users products orders payments; do
	var="${service^^}_DB_PASSWORD"
	: "${!var:?$var is not set}"
	# psql reads the password from the environment itself (\getenv), so it
	# never appears on a command line; :"role" quotes an identifier and
	# :'password' a literal.
	psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres \
		--set=role="$service" <<SQL
\\getenv password $var
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"role" OWNER :"role";
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
SQL
	echo "init-databases: database and role $service created"
done
