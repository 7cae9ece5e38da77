#!/bin/sh
# The official image's first start, shortened: initdb with the superuser's password, the init
# scripts against a server listening on a private socket only (so the health check's
# pg_isready, on the usual socket, answers only once the real server runs), then the real server.
set -eu
if [ "${1:-}" = postgres ]; then shift; fi  # CMD ["postgres"], as the official image takes it
: "${POSTGRES_PASSWORD:?}"
export POSTGRES_USER="${POSTGRES_USER:-postgres}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  password_file=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$password_file"
  initdb --username="$POSTGRES_USER" --pwfile="$password_file" --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$password_file"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  mkdir -p /tmp/init-socket
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/tmp/init-socket" \
    -w start >/dev/null
  export PGHOST=/tmp/init-socket
  for script in /docker-entrypoint-initdb.d/*; do
    [ -e "$script" ] || continue
    echo "running $script"
    case "$script" in
      *.sh) sh "$script" ;;
      *.sql) psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -f "$script" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  unset PGHOST
fi
exec postgres -c listen_addresses='*' "$@"
