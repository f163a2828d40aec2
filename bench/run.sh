#!/usr/bin/env bash
# `make bench`, `make test-faults`, `make test-contract` and `make eval`: installs what they
# need (wrk, pgbench, poppler-utils from Debian; schemathesis and scikit-learn from PyPI), starts the local stack, builds the
# release binary, then runs bench/bench.py, bench/faults.py or bench/contract.py. Results of
# the first two go to bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:?usage: bench/run.sh bench|faults|contract|eval [args]}
SCHEMATHESIS_VERSION=4.32.5
SKLEARN_VERSION=1.6.1
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
  eval)
    # scikit-learn (PyPI) for the paperless-ngx-style baseline, in the stack's venv.
    if [ "$(.stack/venv/bin/python -c 'import sklearn; print(sklearn.__version__)' 2>/dev/null)" != "$SKLEARN_VERSION" ]; then
      echo "[eval] installing scikit-learn $SKLEARN_VERSION from PyPI into .stack/venv"
      .stack/venv/bin/pip install -q "scikit-learn==$SKLEARN_VERSION"
    fi
    exec python3 bench/eval.py "$@" ;;
  contract)
    # schemathesis (PyPI) in the stack's venv, pinned like the stack's other Python tools.
    if [ "$(.stack/venv/bin/schemathesis --version 2>/dev/null)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]; then
      echo "[contract] installing schemathesis $SCHEMATHESIS_VERSION from PyPI into .stack/venv"
      .stack/venv/bin/pip install -q "schemathesis==$SCHEMATHESIS_VERSION"
    fi
    exec python3 bench/contract.py "$@" ;;
  *) echo "usage: bench/run.sh bench|faults|contract|eval" >&2; exit 2 ;;
esac
