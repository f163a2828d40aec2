# DocuVault's two commands, plus helpers. Every target is safe to run again.
#
#   make run    start the local stack (PostgreSQL, Redis, SeaweedFS S3), build the web app,
#               migrate, run the API and the web app on :8080 and a worker
#   make test   start the local stack and run every test against it (Rust, the web app's unit
#               tests, and the end-to-end tests in Chromium)
#
# `make run PORT=9000` (or BIND_ADDR=0.0.0.0:8080) changes where the API listens; WORKERS=3
# starts three worker processes.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
STACK_ENV := .stack/docuvault.env
BIN := target/release/docuvault
WORKERS ?= 1

ifdef PORT
export BIND_ADDR := 127.0.0.1:$(PORT)
else ifdef BIND_ADDR
export BIND_ADDR
endif

.PHONY: web web-types run test bench eval test-faults test-contract build lint fmt stack-up stack-down stack-status stack-reset help

help:
	@sed -n '2,9p' Makefile | sed 's/^# \{0,1\}//'

## Set up everything that is missing, migrate, and run the API in the foreground with WORKERS
## workers beside it (Ctrl-C stops them all; the stack keeps running: `make stack-down` stops it).
run: stack-up build
	BIN=$(BIN) WORKERS=$(WORKERS) scripts/run.sh

## A release build of the one binary, with the web app built into it.
build: web
	cargo build --release --locked -p docuvault

## The web app (web/dist, npm ci from the lockfile); the next cargo build embeds it.
web:
	scripts/web.sh build

## Regenerate the web app's API types after the API changed (make test fails while they are stale).
web-types:
	scripts/web.sh types

## Every test, against the real local stack. Leftovers of killed test runs are swept first.
test: stack-up web
	scripts/stack.sh sweep
	if cargo nextest --version >/dev/null 2>&1; then \
	  cargo nextest run --workspace --locked; \
	else \
	  cargo test --workspace --locked; \
	fi
	scripts/web.sh check
	scripts/web.sh e2e

## Speed and memory against same-run references: bench/results/latest.md (see bench/README.md).
## BENCH_ARGS=--quick for a short trial run.
bench:
	bench/run.sh bench $(BENCH_ARGS)

## Fault drills on the local stack (kill -9 a worker, restart Redis and PostgreSQL, stop the
## object store) with 100+ documents in flight: bench/results/faults.md.
test-faults:
	bench/run.sh faults $(BENCH_ARGS)

## The API against its own OpenAPI document: schemathesis (all checks, stateful phase
## included) as a signed-in user against a real server on the local stack.
test-contract:
	bench/run.sh contract $(BENCH_ARGS)

## The local classifier on real documents (Debian package descriptions, English and German),
## zero-shot and with 5 corrections per topic, beside the lexical classifier and a
## paperless-ngx-style baseline: bench/results/eval.md.
eval:
	bench/run.sh eval

## The gates CI applies before the tests.
lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	scripts/check-compose.sh

fmt:
	cargo fmt --all

stack-up:
	scripts/stack.sh up

stack-down:
	scripts/stack.sh down

stack-status:
	scripts/stack.sh status

## Stop the stack and delete its data and secrets.
stack-reset:
	scripts/stack.sh reset
