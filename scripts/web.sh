#!/usr/bin/env bash
# The web app's steps, for the Makefile (Node and npm are on the machine; packages come from
# the npm registry with `npm ci`, exactly as package-lock.json pins them):
#   scripts/web.sh build   build web/dist (embedded by the next cargo build of the server)
#   scripts/web.sh check   type-check, unit tests (vitest), and fail if the API types are stale
#   scripts/web.sh types   regenerate web/src/api/schema.d.ts from the API's OpenAPI document
#   scripts/web.sh e2e     the browser tests (installs Debian's chromium if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:?usage: scripts/web.sh build|check|types|e2e}

deps() {
  # npm ci only when the lockfile changed since the last install.
  if [ ! -f web/node_modules/.package-lock.json ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
    echo "[web] npm ci"
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

openapi() {
  mkdir -p target
  cargo run -q --locked -p docuvault -- openapi > target/openapi.json
}

case "$what" in
  build)
    deps
    (cd web && npm run --silent build)
    ;;
  check)
    deps
    openapi
    (cd web && node scripts/check-types.mjs ../target/openapi.json && npx vue-tsc --noEmit -p tsconfig.json && npx vitest run)
    ;;
  types)
    deps
    openapi
    (cd web && node scripts/gen-types.mjs ../target/openapi.json)
    ;;
  e2e)
    deps
    if ! command -v chromium >/dev/null; then
      echo "[web] installing chromium from Debian"
      sudo_cmd=(); [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
      "${sudo_cmd[@]}" apt-get update -qq
      DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq chromium >/dev/null
    fi
    DOCUVAULT_BIN="${DOCUVAULT_BIN:-target/debug/docuvault}" python3 bench/e2e.py
    ;;
  *) echo "usage: scripts/web.sh build|check|types|e2e" >&2; exit 2 ;;
esac
