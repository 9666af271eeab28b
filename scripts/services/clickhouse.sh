#!/usr/bin/env bash
# ClickHouse for the tests: HTTP on 127.0.0.1:8123 (what the tests use), native
# protocol on 127.0.0.1:${PORTCULLIS_CLICKHOUSE_TCP_PORT:-19000}, user `default`
# without a password.
#
# Reuses a server that already answers on the HTTP port; otherwise starts our
# own instance (config, data and logs under $PORTCULLIS_TEST_STATE_DIR/clickhouse)
# from Debian's clickhouse-server package (18.16), installing it when missing.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CH_HTTP_PORT="${PORTCULLIS_CLICKHOUSE_HTTP_PORT:-8123}"
# 9000 is ClickHouse's usual native port but also a popular one (php-fpm,
# MinIO, a packaged clickhouse-server); ours stays out of the way.
CH_TCP_PORT="${PORTCULLIS_CLICKHOUSE_TCP_PORT:-19000}"
CH_DIR="${PORTCULLIS_CLICKHOUSE_DIR:-$PORTCULLIS_TEST_STATE_DIR/clickhouse}"
CH_BIN=/usr/sbin/clickhouse-server
CH_URL="http://127.0.0.1:$CH_HTTP_PORT"
PID_FILE="$CH_DIR/clickhouse-server.pid"
LOG_FILE="$CH_DIR/log/clickhouse-server.log"
ERR_FILE="$CH_DIR/log/clickhouse-server.err.log"
OUT_FILE="$CH_DIR/log/stdout.log"

ch_ping() { [ "$(curl -s --max-time 2 "$CH_URL/ping" 2>/dev/null)" = "Ok." ]; }

show_logs() {
  local f
  for f in "$OUT_FILE" "$ERR_FILE" "$LOG_FILE"; do
    if [ -s "$f" ]; then
      printf -- '--- last lines of %s ---\n' "$f" >&2
      tail -n 30 "$f" >&2
    fi
  done
}

write_config() {
  mkdir -p "$CH_DIR"/{data,tmp,user_files,format_schemas,log}
  cat >"$CH_DIR/config.xml" <<XML
<?xml version="1.0"?>
<!-- Written by portcullis scripts/services/clickhouse.sh; regenerated on every start. -->
<yandex>
    <logger>
        <level>information</level>
        <log>$LOG_FILE</log>
        <errorlog>$ERR_FILE</errorlog>
        <size>50M</size>
        <count>3</count>
    </logger>

    <listen_host>127.0.0.1</listen_host>
    <http_port>$CH_HTTP_PORT</http_port>
    <tcp_port>$CH_TCP_PORT</tcp_port>

    <max_connections>1024</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>

    <path>$CH_DIR/data/</path>
    <tmp_path>$CH_DIR/tmp/</tmp_path>
    <user_files_path>$CH_DIR/user_files/</user_files_path>
    <format_schema_path>$CH_DIR/format_schemas/</format_schema_path>

    <users_config>$CH_DIR/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>

    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
</yandex>
XML
  cat >"$CH_DIR/users.xml" <<'XML'
<?xml version="1.0"?>
<!-- Written by portcullis scripts/services/clickhouse.sh; regenerated on every start. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>2000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>::1</ip>
                <ip>127.0.0.1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
XML
}

need_cmd curl curl
take_lock clickhouse

if ch_ping; then
  log "reusing the ClickHouse server on $CH_URL"
  exit 0
fi

if pid_alive "$PID_FILE" clickhouse-server; then
  # Ours, but not answering (yet): give a starting server a chance, else restart it.
  log "our ClickHouse (pid $(cat "$PID_FILE")) is running but not answering; waiting"
  if wait_until 15 ch_ping; then
    log "reusing the ClickHouse server on $CH_URL"
    exit 0
  fi
  log "restarting it"
  stop_pid "$(cat "$PID_FILE")" 15
fi

if port_open "$CH_HTTP_PORT"; then
  die "port $CH_HTTP_PORT is taken by something that is not ClickHouse (GET /ping did not answer 'Ok.')"
fi
if port_open "$CH_TCP_PORT"; then
  die "port $CH_TCP_PORT (ClickHouse native protocol) is taken; set PORTCULLIS_CLICKHOUSE_TCP_PORT to a free port"
fi

if [ ! -x "$CH_BIN" ]; then
  log "ClickHouse is not installed; installing Debian's clickhouse-server"
  apt_install clickhouse-server clickhouse-client
  [ -x "$CH_BIN" ] || die "$CH_BIN missing after installing clickhouse-server"
  if ch_ping; then # where the package's own service got started
    log "reusing the ClickHouse server the package started on $CH_URL"
    exit 0
  fi
fi

write_config
log "starting $CH_BIN (state in $CH_DIR)"
start_detached "$PID_FILE" "$CH_DIR" "$OUT_FILE" "$CH_BIN" --config-file="$CH_DIR/config.xml"

started() {
  ch_ping && return 0
  start_alive "$PID_FILE" || { show_logs; die "clickhouse-server exited during start-up"; }
  return 1
}
if ! wait_until "${PORTCULLIS_CLICKHOUSE_START_TIMEOUT:-30}" started; then
  show_logs
  die "ClickHouse did not answer on $CH_URL/ping within ${PORTCULLIS_CLICKHOUSE_START_TIMEOUT:-30} s (pid $(cat "$PID_FILE"))"
fi
version="$(curl -sf --max-time 5 "$CH_URL/?query=SELECT%20version()" || echo unknown)"
log "ClickHouse $version is up on $CH_URL (native port $CH_TCP_PORT, pid $(cat "$PID_FILE"))"
