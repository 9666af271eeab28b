#!/usr/bin/env bash
# Brings up every service the tests need: PostgreSQL, ClickHouse, the KMS
# emulator. Each script reuses a running service, starts it otherwise and
# installs it where missing. Exits non-zero if any of them is not up.
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

failed=()
for svc in postgres clickhouse kms smtp; do
  if ! "$dir/$svc.sh"; then
    failed+=("$svc")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "[services] ERROR: not up: ${failed[*]}" >&2
  exit 1
fi
echo "[services] all up: postgres 127.0.0.1:5432, clickhouse http://127.0.0.1:8123, kms http://127.0.0.1:5599, smtp 127.0.0.1:${PORTCULLIS_TEST_SMTP_PORT:-2525}" >&2
