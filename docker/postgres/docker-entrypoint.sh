#!/usr/bin/env bash
# Entrypoint following the official postgres image's contract:
#   POSTGRES_USER (default postgres), POSTGRES_PASSWORD (required unless
#   POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_DB (default $POSTGRES_USER), POSTGRES_INITDB_ARGS,
#   POSTGRES_HOST_AUTH_METHOD (default scram-sha-256), PGDATA; initdb on an empty data directory,
#   then /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz; `postgres` or leading options start the
#   server (options are passed on); any other command is exec'd as is (pg_dump, psql, bash, ...).
set -Eeo pipefail

if [ "${1:0:1}" = '-' ]; then
  set -- postgres "$@"
fi

if [ "$1" != 'postgres' ]; then
  exec "$@"
fi

# As root: fix ownership of the data and socket directories, then re-run as postgres.
if [ "$(id -u)" = '0' ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
fi

run_initdb_scripts() {
  local f
  shopt -s nullglob
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh)
        if [ -x "$f" ]; then
          echo "entrypoint: running $f"
          "$f"
        else
          echo "entrypoint: sourcing $f"
          # shellcheck disable=SC1090
          . "$f"
        fi
        ;;
      *.sql)
        echo "entrypoint: running $f"
        psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --dbname "$POSTGRES_DB" -f "$f"
        ;;
      *.sql.gz)
        echo "entrypoint: running $f"
        gunzip -c "$f" | psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --dbname "$POSTGRES_DB"
        ;;
      *) echo "entrypoint: ignoring $f" ;;
    esac
  done
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_USER:=postgres}"
  : "${POSTGRES_DB:=$POSTGRES_USER}"
  : "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
  export POSTGRES_USER POSTGRES_DB
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != 'trust' ]; then
    echo >&2 'entrypoint: POSTGRES_PASSWORD must be set (or POSTGRES_HOST_AUTH_METHOD=trust)'
    exit 1
  fi

  # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of words, as in the official image
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD:-}") \
    --auth-local=trust --auth-host="$POSTGRES_HOST_AUTH_METHOD" $POSTGRES_INITDB_ARGS
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  # Every address may connect with a password, replication included (pg_basebackup tests).
  {
    echo "host all all all $POSTGRES_HOST_AUTH_METHOD"
    echo "host replication all all $POSTGRES_HOST_AUTH_METHOD"
  } >>"$PGDATA/pg_hba.conf"

  # Temporary server on the Unix socket only, so nothing (pg_isready over TCP, Testcontainers'
  # health check) sees the database before setup is finished.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
  if [ "$POSTGRES_DB" != 'postgres' ]; then
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --dbname postgres \
      --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
  fi
  run_initdb_scripts
  pg_ctl -D "$PGDATA" -m fast -w stop
  echo 'entrypoint: PostgreSQL init process complete; ready for start up.'
fi

exec "$@"
