#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, runs the fast checks first
# (lint, types, unit tests), then brings up the local environment (or reuses it) and runs the
# integration tests against real MariaDB, Kafka and Kubernetes. Under CI=true it stops the
# environment afterwards; locally it stays up so the next run starts in seconds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. test/env/lib.sh

step() { log "== $*"; }
for tool in node npm go java mvn; do
  need "$tool" "see the README's prerequisites"
done
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || die "Node.js 20 or newer is required (found $(node --version))"

step "npm dependencies and generated types"
node_deps
step "lint and formatting"
npm run --silent lint
step "type check"
npx tsc -p tsconfig.json --noEmit
step "unit tests"
npx jest --selectProjects unit --ci

if [[ "${CI:-}" == "true" ]]; then
  trap 'bash test/env/down.sh || true' EXIT
fi
step "integration tests (the global setup brings the environment up)"
# --forceExit: a handle a test leaves open must not hang CI; the global teardown names it.
npx jest --selectProjects integration --ci --runInBand --forceExit
step "all tests passed"
