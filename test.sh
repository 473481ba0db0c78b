#!/usr/bin/env bash
# Sets everything up and runs the whole test suite: lint, then pytest on SQLite and, when it is
# reachable at 127.0.0.1:5432 (always in CI), PostgreSQL. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh --test

pg_up() { .venv/bin/python - <<'PY' 2>/dev/null
import os, psycopg
url = os.environ.get("BATON_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test").replace("+psycopg", "")
psycopg.connect(url, connect_timeout=3).close()
PY
}
if ! pg_up && command -v pg_ctlcluster >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "==> starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi

echo "==> ruff" >&2
.venv/bin/ruff check engine web tests bench
echo "==> mypy" >&2
.venv/bin/mypy engine
echo "==> pytest" >&2
exec .venv/bin/pytest "$@"
