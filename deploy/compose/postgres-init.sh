#!/bin/sh
# Runs once, when postgres initialises its data directory: one role and one database per
# service (tongban_<service>, as shared.settings.database_name names them), each owned by its
# service's role, which can reach no other; and the audit watcher's (tongban_audit, owned by
# audit_watch), which routing's role cannot reach; the portal's (tongban_portal, owned by portal);
# the consultation service's (tongban_consultation, owned by consultation); the federation
# gateway's (tongban_federation, owned by federation).
set -eu
create() {  # role, password, database
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v role="$1" -v password="$2" -v database="$3" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"database" OWNER :"role";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
SQL
}
for service in intake routing approval delivery; do
  variable="$(echo "$service" | tr a-z A-Z)_DB_PASSWORD"
  create "$service" "$(printenv "$variable")" "tongban_$service"
done
create audit_watch "$AUDIT_WATCH_DB_PASSWORD" tongban_audit
create portal "$PORTAL_DB_PASSWORD" tongban_portal
create consultation "$CONSULTATION_DB_PASSWORD" tongban_consultation
create federation "$FEDERATION_DB_PASSWORD" tongban_federation
