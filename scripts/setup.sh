#!/usr/bin/env bash
# Prepares a checkout: a virtualenv in .venv with Baton and its dependencies, the database schema,
# and (with --test) what the tests need: test tools and Debian's chromium for the browser tests.
# Safe to run again: it only reinstalls when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "Baton needs Python 3.11 or newer as '$PY' (set PYTHON=/path/to/python3.11)." >&2
  exit 1
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
apt_updated=0
apt_install() {
  if ! command -v apt-get >/dev/null; then return 1; fi
  if [ $apt_updated = 0 ]; then as_root apt-get update -qq || return 1; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ ! -x .venv/bin/python ]; then
  say "creating the virtualenv .venv"
  if ! "$PY" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    say "python venv module missing: installing python3-venv"
    apt_install python3-venv || { echo "cannot create a virtualenv: install python3-venv" >&2; exit 1; }
    "$PY" -m venv .venv
  fi
fi

extras="[examples]"
[ $want_test = 1 ] && extras="[examples,test]"
stamp=".venv/.baton-installed${extras}"
sum=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
  say "installing Baton and its dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".${extras}"
  echo "$sum" > "$stamp"
fi

if [ $want_test = 1 ] && ! command -v chromium >/dev/null; then
  say "installing Debian's chromium for the browser tests"
  apt_install chromium || echo "warning: chromium could not be installed; browser tests will skip (and fail in CI)" >&2
fi

# bpmn-js (from the npm registry, pinned in package-lock.json) draws the diagrams of the cockpit pages;
# it is copied into our static files (web/static/vendor/bpmn-js, not committed) and never loaded from a CDN.
vendor=web/static/vendor/bpmn-js
npm_stamp="node_modules/.baton-installed"
npm_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if ! command -v npm >/dev/null; then
  say "npm missing: installing Debian's npm for bpmn-js"
  apt_install npm || echo "warning: npm could not be installed; the cockpit will show diagrams as missing" >&2
fi
if command -v npm >/dev/null; then
  if [ ! -f "$npm_stamp" ] || [ "$(cat "$npm_stamp")" != "$npm_sum" ]; then
    say "installing bpmn-js with npm ci"
    npm ci --no-audit --no-fund --loglevel=error
    echo "$npm_sum" > "$npm_stamp"
  fi
  dist=node_modules/bpmn-js/dist
  if [ ! -f "$vendor/bpmn-navigated-viewer.production.min.js" ] \
     || ! cmp -s "$dist/bpmn-navigated-viewer.production.min.js" "$vendor/bpmn-navigated-viewer.production.min.js"; then
    say "copying bpmn-js to $vendor"
    rm -rf "$vendor" && mkdir -p "$vendor"
    cp "$dist/bpmn-navigated-viewer.production.min.js" "$vendor/"
    cp -r "$dist/assets" "$vendor/assets"
  fi
fi
