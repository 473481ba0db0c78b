#!/usr/bin/env bash
# Sets everything up and runs Baton: SQLite file baton.db here, the example processes deployed,
# the web server on http://127.0.0.1:8080 (BATON_PORT / BATON_HOST change it).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
.venv/bin/baton db upgrade
exec .venv/bin/baton serve --deploy bpmn/examples "$@"
