#!/usr/bin/env bash
# A test SMTP server: aiosmtpd on 127.0.0.1:$PORTCULLIS_TEST_SMTP_PORT (2525),
# plain SMTP, no authentication. Every message it receives becomes one `.eml`
# file in $PORTCULLIS_TEST_STATE_DIR/smtp/mail (smtp_sink.py), which the
# tests read (tests/api/mailbox.rs, `Mailbox::smtp()`).
#
# Reuses a server that already answers there; otherwise starts one from the
# venv $PORTCULLIS_CACHE_DIR/venv (shared with kms.sh), creating the venv and
# installing `aiosmtpd` from PyPI when missing. Its log goes to
# $PORTCULLIS_TEST_STATE_DIR/smtp/smtp.log.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SMTP_PORT="${PORTCULLIS_TEST_SMTP_PORT:-2525}"
VENV="${PORTCULLIS_MOTO_VENV:-$PORTCULLIS_CACHE_DIR/venv}"
AIOSMTPD_SPEC="${PORTCULLIS_TEST_AIOSMTPD_SPEC:-aiosmtpd>=1.4,<2}"
SMTP_DIR="$PORTCULLIS_TEST_STATE_DIR/smtp"
MAIL_DIR="${PORTCULLIS_TEST_SMTP_DIR:-$SMTP_DIR/mail}"
PID_FILE="$SMTP_DIR/smtp.pid"
LOG_FILE="$SMTP_DIR/smtp.log"
SINK="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/smtp_sink.py"

# An SMTP greeting (220) and an answer to NOOP (250).
smtp_ok() {
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    IFS= read -r -t 2 greeting <&3 || exit 1
    case "$greeting" in 220*) ;; *) exit 1 ;; esac
    printf "NOOP\r\n" >&3
    IFS= read -r -t 2 reply <&3 || exit 1
    printf "QUIT\r\n" >&3
    case "$reply" in 250*) exit 0 ;; *) exit 1 ;; esac
  ' _ "$SMTP_PORT" 2>/dev/null
}

pick_python() {
  local py
  for py in /usr/bin/python3 python3; do
    if command -v "$py" >/dev/null 2>&1; then command -v "$py"; return 0; fi
  done
  return 1
}

install_aiosmtpd() {
  local py
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    py="$(pick_python)" || { apt_install python3 python3-venv; py="$(pick_python)"; } || die "no python3"
    log "creating venv $VENV with $py"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    if ! "$py" -m venv "$VENV" >&2; then
      rm -rf "$VENV"
      apt_install python3-venv
      "$py" -m venv "$VENV" >&2 || die "python3 -m venv $VENV failed"
    fi
  fi
  log "pip install '$AIOSMTPD_SPEC' into $VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "$AIOSMTPD_SPEC" >&2 \
    || die "pip install '$AIOSMTPD_SPEC' failed"
  "$VENV/bin/python" -c 'import aiosmtpd' 2>/dev/null || die "aiosmtpd missing after installing it"
}

show_log() {
  if [ -s "$LOG_FILE" ]; then
    printf -- '--- last lines of %s ---\n' "$LOG_FILE" >&2
    tail -n 30 "$LOG_FILE" >&2
  fi
}

take_lock smtp
mkdir -p "$MAIL_DIR"

if smtp_ok; then
  log "reusing the SMTP server on 127.0.0.1:$SMTP_PORT"
  exit 0
fi

if pid_alive "$PID_FILE" smtp_sink.py; then
  log "our SMTP server (pid $(cat "$PID_FILE")) is running but not answering; waiting"
  if wait_until 10 smtp_ok; then
    log "reusing the SMTP server on 127.0.0.1:$SMTP_PORT"
    exit 0
  fi
  log "restarting it"
  stop_pid "$(cat "$PID_FILE")" 10
fi

if port_open "$SMTP_PORT"; then
  die "port $SMTP_PORT is taken by something that does not answer SMTP"
fi

if ! { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import aiosmtpd' 2>/dev/null; }; then
  install_aiosmtpd
fi

log "starting the SMTP sink on 127.0.0.1:$SMTP_PORT, writing to $MAIL_DIR (log: $LOG_FILE)"
start_detached "$PID_FILE" "$SMTP_DIR" "$LOG_FILE" \
  "$VENV/bin/python" "$SINK" --host 127.0.0.1 --port "$SMTP_PORT" --dir "$MAIL_DIR"

started() {
  smtp_ok && return 0
  start_alive "$PID_FILE" || { show_log; die "the SMTP sink exited during start-up"; }
  return 1
}
if ! wait_until "${PORTCULLIS_TEST_SMTP_START_TIMEOUT:-30}" started; then
  show_log
  die "the SMTP server did not answer on 127.0.0.1:$SMTP_PORT within ${PORTCULLIS_TEST_SMTP_START_TIMEOUT:-30} s"
fi
log "SMTP server (aiosmtpd $("$VENV/bin/python" -c 'import aiosmtpd; print(aiosmtpd.__version__)' 2>/dev/null || echo '?')) is up on 127.0.0.1:$SMTP_PORT (pid $(cat "$PID_FILE")), mail in $MAIL_DIR"
