#!/bin/sh
# Runs once, when postgres initialises its data directory: one role and one database per
# service (tongban_<service>, as shared.settings.database_name names them), each owned by its
# service's role, which can reach no other.
set -eu
for service in intake routing approval delivery; do
  variable="$(echo "$service" | tr a-z A-Z)_DB_PASSWORD"
  password="$(printenv "$variable")"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v role="$service" -v password="$password" -v database="tongban_$service" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"database" OWNER :"role";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
SQL
done
