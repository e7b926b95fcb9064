#!/usr/bin/env bash
# Install upsell_ab and what it needs on a fresh machine (Python, pip and apt only).
#   bash scripts/install.sh          the package with every engine (DuckDB, PostgreSQL client, Spark, charts)
#   bash scripts/install.sh --test   plus the test tools and the system programs the tests start for
#                                    real: a PostgreSQL server, Java for Spark local, headless Chromium
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

if [ "$want_test" = 1 ] && command -v apt-get >/dev/null 2>&1; then
  missing=()
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "install.sh: installing system packages: ${missing[*]}" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

extras="all"
[ "$want_test" = 1 ] && extras="all,dev"
python -m pip install --quiet --disable-pip-version-check -e ".[${extras}]"
