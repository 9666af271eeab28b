#!/usr/bin/env bash
# A KMS emulator for the tests: moto's server on 127.0.0.1:5599
# (credentials `test`/`test`, any region).
#
# Reuses a moto server that already answers there; otherwise starts one from
# the venv $PORTCULLIS_CACHE_DIR/venv, creating the venv and installing
# `moto[server]` from PyPI when missing. Its log goes to
# $PORTCULLIS_TEST_STATE_DIR/kms/moto.log.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KMS_PORT="${PORTCULLIS_KMS_PORT:-5599}"
KMS_URL="http://127.0.0.1:$KMS_PORT"
VENV="${PORTCULLIS_MOTO_VENV:-$PORTCULLIS_CACHE_DIR/venv}"
MOTO_SPEC="${PORTCULLIS_MOTO_SPEC:-moto[server]>=5,<6}"
KMS_DIR="$PORTCULLIS_TEST_STATE_DIR/kms"
PID_FILE="$KMS_DIR/moto.pid"
LOG_FILE="$KMS_DIR/moto.log"

# A KMS ListKeys call; moto routes on the service named in the credential scope.
kms_ok() {
  curl -s --max-time 3 -o /dev/null -w '%{http_code}' -X POST "$KMS_URL/" \
    -H 'Content-Type: application/x-amz-json-1.1' \
    -H 'X-Amz-Target: TrentService.ListKeys' \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0' \
    --data '{}' 2>/dev/null | grep -qx 200
}

pick_python() {
  local py
  # Debian's own interpreter first: pyenv shims and the like may not be there next time.
  for py in /usr/bin/python3 python3; do
    if command -v "$py" >/dev/null 2>&1; then command -v "$py"; return 0; fi
  done
  return 1
}

install_moto() {
  local py
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    py="$(pick_python)" || { apt_install python3 python3-venv; py="$(pick_python)"; } || die "no python3"
    log "creating venv $VENV with $py"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    if ! "$py" -m venv "$VENV" >&2; then
      # Debian splits venv/ensurepip into python3-venv.
      rm -rf "$VENV"
      apt_install python3-venv
      "$py" -m venv "$VENV" >&2 || die "python3 -m venv $VENV failed"
    fi
  fi
  log "pip install '$MOTO_SPEC' into $VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "$MOTO_SPEC" >&2 \
    || die "pip install '$MOTO_SPEC' failed"
  [ -x "$VENV/bin/moto_server" ] || die "$VENV/bin/moto_server missing after installing moto"
}

show_log() {
  if [ -s "$LOG_FILE" ]; then
    printf -- '--- last lines of %s ---\n' "$LOG_FILE" >&2
    tail -n 30 "$LOG_FILE" >&2
  fi
}

need_cmd curl curl
take_lock kms

if kms_ok; then
  log "reusing the KMS emulator on $KMS_URL"
  exit 0
fi

if pid_alive "$PID_FILE" moto_server; then
  log "our moto server (pid $(cat "$PID_FILE")) is running but not answering; waiting"
  if wait_until 15 kms_ok; then
    log "reusing the KMS emulator on $KMS_URL"
    exit 0
  fi
  log "restarting it"
  stop_pid "$(cat "$PID_FILE")" 10
fi

if port_open "$KMS_PORT"; then
  die "port $KMS_PORT is taken by something that does not answer KMS calls"
fi

if [ ! -x "$VENV/bin/moto_server" ]; then
  install_moto
fi

mkdir -p "$KMS_DIR"
log "starting moto_server on $KMS_URL (log: $LOG_FILE)"
start_detached "$PID_FILE" "$KMS_DIR" "$LOG_FILE" "$VENV/bin/moto_server" -H 127.0.0.1 -p "$KMS_PORT"

started() {
  kms_ok && return 0
  start_alive "$PID_FILE" || { show_log; die "moto_server exited during start-up"; }
  return 1
}
if ! wait_until "${PORTCULLIS_KMS_START_TIMEOUT:-30}" started; then
  show_log
  die "the KMS emulator did not answer on $KMS_URL within ${PORTCULLIS_KMS_START_TIMEOUT:-30} s"
fi
log "KMS emulator (moto $("$VENV/bin/python" -c 'import moto; print(moto.__version__)' 2>/dev/null || echo '?')) is up on $KMS_URL (pid $(cat "$PID_FILE"))"
