#!/usr/bin/env bash
# Validates docker-compose.yml against the Compose specification, with .env.example supplying
# every variable, so a broken compose file fails CI even though no Docker engine runs here.
# Uses Debian's docker-compose (1.29: `config` needs no engine), installed if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v docker-compose >/dev/null; then
  echo "[compose] installing Debian's docker-compose to validate docker-compose.yml" >&2
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
fi
docker-compose --env-file .env.example -f docker-compose.yml config -q
echo "[compose] docker-compose.yml is valid" >&2
