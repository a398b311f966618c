#!/usr/bin/env bash
# The set-up behind `npm test` and `npm run demo`: installs what is missing or out of date and says
# so, and is quick when everything is in place. Needs nothing from node_modules (it may create it).
#   bash test/setup.sh test   # Debian packages, npm dependencies, code-server (the whole suite)
#   bash test/setup.sh demo   # the same without the packages only the tests use
# As root on Debian it installs everything; otherwise it installs what it can and says what is
# missing (the tests that need it then report themselves skipped; in CI they fail).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-test}
case "$what" in test|demo) ;; *) echo "use: $0 [test|demo]" >&2; exit 2 ;; esac
started=$(date +%s%N)
say() { printf 'setup: %s\n' "$*"; }

set +e
bash test/install-debian-deps.sh "$what" 2>&1 | sed -u 's/^/setup: /'
debian_rc=${PIPESTATUS[0]}
set -e
if [ "$debian_rc" -ne 0 ] && { [ "$debian_rc" -ne 3 ] || [ "${CI:-}" = true ]; }; then
  say "cannot go on without the Debian packages above"
  exit 1
fi

# npm ci writes node_modules/.package-lock.json; older than package-lock.json means a stale tree.
if [ ! -f node_modules/.package-lock.json ]; then
  say "npm dependencies: node_modules is missing, running npm ci"
  npm ci --no-audit --no-fund --loglevel=error
elif [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm dependencies: node_modules is older than package-lock.json, running npm ci"
  npm ci --no-audit --no-fund --loglevel=error
else
  say "npm dependencies: node_modules matches package-lock.json"
fi

# Real VS Code for the end-to-end tests and the demo (idempotent: it says when it is in place).
bash test/e2e/install-code-server.sh 2>&1 | sed -u '/^\s*$/d; s/^/setup: /'

say "done in $(( ($(date +%s%N) - started) / 1000000 )) ms"
