#!/usr/bin/env bash
# Runs DocuVault on the local stack: migrations, then WORKERS worker processes (default 1) in
# the background and the API in the foreground. Ctrl-C or SIGTERM stops them all; each finishes
# its current requests and jobs first. Used by `make run`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/docuvault}
WORKERS=${WORKERS:-1}
set -a
# shellcheck disable=SC1091
. .stack/docuvault.env
set +a

# Large buffers go back to the OS when freed (see the README's Performance section).
export GLIBC_TUNABLES=${GLIBC_TUNABLES:-glibc.malloc.mmap_threshold=4194304}
# Each job embeds on one thread; jobs run side by side (WORKER_CONCURRENCY). Letting every job
# spread its matrix products over all cores made ingestion 35 % slower (README, Performance).
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-1}

"$BIN" migrate

pids=()
stop() {
  trap - INT TERM EXIT
  [ "${#pids[@]}" = 0 ] || kill -TERM "${pids[@]}" 2>/dev/null || true
  wait || true
}
trap stop INT TERM EXIT

for _ in $(seq 1 "$WORKERS"); do
  "$BIN" worker &
  pids+=($!)
done
"$BIN" serve &
pids+=($!)
# The API's exit ends the run (and stops the workers).
wait "${pids[-1]}"
