#!/usr/bin/env bash
# PostgreSQL for the tests: 127.0.0.1:5432, user `postgres`, trust auth.
# Reuses a running server; starts the local cluster if it is stopped;
# installs Debian's `postgresql` when it is missing. Then drops the `test_%`
# databases that earlier test runs left behind.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_HOST=127.0.0.1
PG_PORT=5432

pg_ready() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" >/dev/null 2>&1; }
pg_psql() { psql -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres "$@"; }

# Newest installed cluster version, e.g. "15" (empty when none).
cluster_version() {
  [ -d /etc/postgresql ] || return 0
  find /etc/postgresql -mindepth 2 -maxdepth 2 -name main -type d -printf '%P\n' 2>/dev/null \
    | cut -d/ -f1 | sort -V | tail -n1
}

# Put trust rules for the loopback addresses at the top of pg_hba.conf.
configure_trust() { # configure_trust <version>
  local hba="/etc/postgresql/$1/main/pg_hba.conf"
  [ -f "$hba" ] || die "$hba not found"
  if ! grep -Eq '^host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
    log "configuring trust auth for 127.0.0.1 and ::1 in $hba"
    as_root sed -i '1i # added by portcullis scripts/services/postgres.sh: tests connect without a password\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    return 0
  fi
  return 1 # nothing changed
}

take_lock postgres

if pg_ready; then
  log "reusing the PostgreSQL server on $PG_HOST:$PG_PORT"
else
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(cluster_version)" ]; then
    log "PostgreSQL is not installed; installing it"
    apt_install postgresql
  fi
  version="$(cluster_version)"
  if [ -z "$version" ]; then
    # The package is there but its default cluster is gone: recreate it.
    pg_ver="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -n1)"
    [ -n "$pg_ver" ] || die "no PostgreSQL server binaries under /usr/lib/postgresql"
    log "creating cluster $pg_ver/main"
    as_root pg_createcluster "$pg_ver" main --port "$PG_PORT" >&2 || die "pg_createcluster failed"
    version="$pg_ver"
  fi
  conf_port="$(sed -nE 's/^[[:space:]]*port[[:space:]]*=[[:space:]]*([0-9]+).*/\1/p' "/etc/postgresql/$version/main/postgresql.conf" | tail -n1)"
  if [ -n "$conf_port" ] && [ "$conf_port" != "$PG_PORT" ]; then
    die "cluster $version/main is configured for port $conf_port, the tests need $PG_PORT (edit /etc/postgresql/$version/main/postgresql.conf)"
  fi
  configure_trust "$version" || true
  if pg_ready; then
    : # the package's postinst started it
  else
    log "starting cluster $version/main"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 \
      || { tail -n 30 "/var/log/postgresql/postgresql-$version-main.log" >&2 2>/dev/null || true
           die "pg_ctlcluster $version main start failed"; }
  fi
  wait_until 30 pg_ready || {
    tail -n 30 "/var/log/postgresql/postgresql-$version-main.log" >&2 2>/dev/null || true
    die "PostgreSQL did not become ready on $PG_HOST:$PG_PORT within 30 s"
  }
  log "PostgreSQL $version is up on $PG_HOST:$PG_PORT"
fi

need_cmd psql postgresql-client

# The tests connect as postgres over TCP without a password.
if ! PGPASSWORD='' pg_psql -w -Atc 'select 1' >/dev/null 2>&1; then
  version="$(cluster_version)"
  if [ -n "$version" ] && configure_trust "$version"; then
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload >&2 || die "reloading PostgreSQL failed"
    sleep 1
  fi
  PGPASSWORD='' pg_psql -w -Atc 'select 1' >/dev/null \
    || die "cannot connect as postgres to $PG_HOST:$PG_PORT without a password (trust auth for 127.0.0.1 needed)"
fi

# Drop the databases that earlier test runs left behind.
stale="$(pg_psql -w -Atc "select datname from pg_database where datname like 'test\_%'")" \
  || die "listing databases failed"
if [ -n "$stale" ]; then
  count="$(grep -c . <<<"$stale")"
  # One psql session for all of them (one per database took minutes for
  # hundreds); each statement still commits on its own.
  sed 's/"/""/g; s/.*/DROP DATABASE IF EXISTS "&" WITH (FORCE);/' <<<"$stale" \
    | pg_psql -w >/dev/null || die "dropping stale test_% databases failed"
  log "dropped $count stale test_% database(s)"
fi
