#!/usr/bin/env bash
# Sets everything up and runs Baton: SQLite file baton.db here, the example processes deployed,
# the web server on http://127.0.0.1:8080 (BATON_PORT / BATON_HOST change it).  The first time, it creates
# the user admin (password from BATON_ADMIN_PASSWORD, or generated) and prints how to sign in.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
.venv/bin/baton db upgrade
.venv/bin/baton users ensure-admin --url "http://${BATON_HOST:-127.0.0.1}:${BATON_PORT:-8080}"
exec .venv/bin/baton serve --deploy bpmn/examples "$@"
