#!/usr/bin/env bash
# `make bench` and `make test-faults`: installs what the measurements need (wrk, pgbench,
# poppler-utils from Debian), starts the local stack, builds the release binary, then runs
# bench/bench.py or bench/faults.py. Results go to bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:?usage: bench/run.sh bench|faults [args]}
shift

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v pgbench >/dev/null || need+=(postgresql-client)
command -v pdfinfo >/dev/null || need+=(poppler-utils)
if [ "${#need[@]}" -gt 0 ]; then
  echo "[bench] installing ${need[*]}"
  sudo_cmd=(); [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi
scripts/stack.sh up
cargo build --release --locked -p docuvault
case "$what" in
  bench) exec python3 bench/bench.py "$@" ;;
  faults) exec python3 bench/faults.py "$@" ;;
  *) echo "usage: bench/run.sh bench|faults" >&2; exit 2 ;;
esac
