#!/usr/bin/env bash
# A throwaway local PostgreSQL for the search-storage tests: installs the server (Debian's
# `postgresql`, as root) if missing, starts a private cluster on loopback, prints its URL.
#   export TRAINLAB_TEST_POSTGRES_URL="$(bash .ci/postgres.sh)"
#   bash .ci/postgres.sh stop        # stop it again
# The cluster lives in $TRAINLAB_PG_DATA (default /tmp/trainlab-pg-<port>), listens on
# 127.0.0.1:$TRAINLAB_PG_PORT (default 55432) only, and is reused when already running.
set -euo pipefail
PORT="${TRAINLAB_PG_PORT:-55432}"
DATA="${TRAINLAB_PG_DATA:-/tmp/trainlab-pg-$PORT}"
USER_NAME=trainlab
PASSWORD=trainlab  # loopback only, test data only
DB=trainlab_test
URL="postgresql://$USER_NAME:$PASSWORD@127.0.0.1:$PORT/$DB"

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

BIN="$(pg_bin)"
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "postgres.sh: PostgreSQL is not installed and this is not root: apt-get install postgresql" >&2
    exit 1
  fi
  echo "postgres.sh: installing PostgreSQL (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  BIN="$(pg_bin)"
fi

# The server refuses to run as root: as root, run it as the `postgres` user Debian creates.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "${1:-}" = stop ]; then
  as_owner "$BIN/pg_ctl" -D "$DATA" -m fast stop >&2 || true
  exit 0
fi

if [ ! -s "$DATA/PG_VERSION" ]; then
  mkdir -p "$DATA"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$DATA"
  pwfile="$DATA.pw"
  printf '%s\n' "$PASSWORD" >"$pwfile"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$pwfile"
  as_owner "$BIN/initdb" -D "$DATA" -U "$USER_NAME" --pwfile="$pwfile" \
    --auth=scram-sha-256 --encoding=UTF8 --no-instructions >&2
  rm -f "$pwfile"
fi

if ! as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 \
    -o "-p $PORT -c listen_addresses=127.0.0.1 -k $DATA -c max_connections=100" start >&2
fi

export PGPASSWORD="$PASSWORD"
if ! "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U "$USER_NAME" -d postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname='$DB'" | grep -q 1; then
  "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U "$USER_NAME" "$DB"
fi
echo "$URL"
