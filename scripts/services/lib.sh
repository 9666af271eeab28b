# shellcheck shell=bash
# Helpers shared by the service start-up scripts in this directory.
# Sourced, not executed. Every script that sources it runs with `set -euo pipefail`.

# Where our service instances keep their config, data, pid files and logs.
PORTCULLIS_TEST_STATE_DIR="${PORTCULLIS_TEST_STATE_DIR:-/var/tmp/portcullis-test}"
# Long-lived caches (the moto venv, cargo's target dir) live here.
PORTCULLIS_CACHE_DIR="${PORTCULLIS_CACHE_DIR:-/var/cache/portcullis}"

export DEBIAN_FRONTEND=noninteractive

_svc_name="$(basename "${0%.sh}")"

log() { printf '[services/%s] %s\n' "$_svc_name" "$*" >&2; }
die() { printf '[services/%s] ERROR: %s\n' "$_svc_name" "$*" >&2; exit 1; }

# Run a command as root (we normally are root already; fall back to sudo).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -E "$@"
  else
    die "need root to run: $*"
  fi
}

# `apt-get update` at most once per hour across all the scripts, then install.
apt_install() {
  local stamp="$PORTCULLIS_TEST_STATE_DIR/.apt-updated"
  mkdir -p "$PORTCULLIS_TEST_STATE_DIR"
  if [ -z "$(find "$stamp" -mmin -60 2>/dev/null)" ]; then
    log "apt-get update"
    as_root apt-get update -q >&2 || die "apt-get update failed"
    touch "$stamp"
  fi
  log "apt-get install -y $*"
  as_root apt-get install -y -q --no-install-recommends "$@" >&2 || die "apt-get install $* failed"
}

# Make sure a command exists, installing the Debian package that provides it.
need_cmd() { # need_cmd <command> <debian package>
  command -v "$1" >/dev/null 2>&1 || apt_install "$2"
  command -v "$1" >/dev/null 2>&1 || die "'$1' still missing after installing $2"
}

# True when something accepts TCP connections on 127.0.0.1:<port>.
port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# True while the pid in <pidfile> is alive and, given <pattern>, its command
# line contains <pattern> (a stale pid file may name a reused pid).
pid_alive() { # pid_alive <pidfile> [pattern]
  local pid
  [ -s "$1" ] || return 1
  pid="$(cat "$1")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  [ -z "${2:-}" ] || tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"
}

# True while <pid> exists and is not a zombie.
pid_running() {
  local state
  state="$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat" 2>/dev/null)" || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# Start <cmd> in <dir>, detached from this shell and its session so that it
# outlives the test run, its output appended to <out>, its pid in <pidfile>.
# `9>&-`: it does not inherit the start-up lock.
start_detached() { # start_detached <pidfile> <dir> <out> <cmd> [args...]
  local pidfile="$1" dir="$2" out="$3"
  shift 3
  rm -f "$pidfile"
  printf '=== %s: starting %s ===\n' "$(date -u +%FT%TZ)" "$*" >>"$out"
  (
    cd "$dir"
    exec setsid nohup "$@" </dev/null >>"$out" 2>&1 9>&-
  ) &
  echo $! >"$pidfile"
}

# True while the process start_detached began has not exited. Not `pid_alive
# <pidfile> <pattern>`: until the subshell has exec'd, /proc/<pid>/cmdline is
# this script's, so a check in the first milliseconds saw "exited during
# start-up" for a server that was starting (a CI run failed on it).
start_alive() { # start_alive <pidfile>
  [ -s "$1" ] && pid_running "$(cat "$1")"
}

# Stop <pid>: SIGTERM, then SIGKILL after <seconds>; returns once it is gone.
stop_pid() { # stop_pid <pid> <seconds>
  kill -TERM "$1" 2>/dev/null || return 0
  kill -CONT "$1" 2>/dev/null || true # a stopped process would never act on the TERM
  wait_until "$2" eval "! pid_running $1" && return 0
  log "pid $1 ignored SIGTERM for $2 s; sending SIGKILL"
  kill -KILL "$1" 2>/dev/null || true
  wait_until 10 eval "! pid_running $1" || die "pid $1 survived SIGKILL"
}

# Serialise concurrent start-ups of one service (two test runs at once).
# The lock is held on fd 9 until the script exits; daemons we start must be
# started with `9>&-` so that they do not inherit it.
take_lock() { # take_lock <name>
  mkdir -p "$PORTCULLIS_TEST_STATE_DIR"
  exec 9>"$PORTCULLIS_TEST_STATE_DIR/$1.lock"
  flock -w 300 9 || die "timed out waiting for the $1 start-up lock"
}

# Poll <check command...> until it succeeds or <seconds> pass.
wait_until() { # wait_until <seconds> <command...>
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.5
  done
}
