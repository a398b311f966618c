#!/usr/bin/env bash
# The README's test command: unit, cluster and end-to-end tests in one node:test run, so one
# summary counts them all. Cluster and e2e tests need root (namespaces) and the packages that
# .ci/run installs; without them they are reported as skipped with the reason, never as passed.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent package
npm run --silent compile-tests
exec node --test --test-concurrency=1 --test-reporter=spec --test-reporter-destination=stdout \
  out/test/unit out/test/cluster out/test/e2e
