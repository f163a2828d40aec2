#!/usr/bin/env bash
# `make bench`, `make test-faults` and `make test-contract`: installs what they need (wrk,
# pgbench, poppler-utils from Debian; schemathesis from PyPI), starts the local stack, builds the
# release binary, then runs bench/bench.py, bench/faults.py or bench/contract.py. Results of
# the first two go to bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:?usage: bench/run.sh bench|faults|contract [args]}
SCHEMATHESIS_VERSION=4.32.5
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
scripts/web.sh build
cargo build --release --locked -p docuvault
case "$what" in
  bench) exec python3 bench/bench.py "$@" ;;
  faults) exec python3 bench/faults.py "$@" ;;
  contract)
    # schemathesis (PyPI) in the stack's venv, pinned like the stack's other Python tools.
    if [ "$(.stack/venv/bin/schemathesis --version 2>/dev/null)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]; then
      echo "[contract] installing schemathesis $SCHEMATHESIS_VERSION from PyPI into .stack/venv"
      .stack/venv/bin/pip install -q "schemathesis==$SCHEMATHESIS_VERSION"
    fi
    exec python3 bench/contract.py "$@" ;;
  *) echo "usage: bench/run.sh bench|faults|contract" >&2; exit 2 ;;
esac
