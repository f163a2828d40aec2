#!/usr/bin/env python3
"""The API against its own OpenAPI document: schemathesis (PyPI, in the stack's venv) generates
requests from `/api/openapi.json`, including the stateful phase that chains operations through
their links, sends them as a signed-in user to a real server on the local stack, and checks
every answer against the document: status codes declared, bodies matching their schemas, no
server errors, requests the schema allows accepted and ones it forbids refused.

Usage: python3 bench/contract.py   (`make test-contract` installs and starts what it needs)
Exit status: schemathesis's (0 only when every check passed).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import lib

VENV_PYTHON = lib.ROOT / ".stack" / "venv" / "bin" / "python"
# schemathesis's CLI with a workaround for a CPython 3.11 bug (see the file).
SCHEMATHESIS_CLI = lib.ROOT / "bench" / "schemathesis_cli.py"
PORT = 58181
WORK = lib.ROOT / "bench" / "work"


def main() -> int:
    WORK.mkdir(parents=True, exist_ok=True)
    scratch = lib.Scratch("contract")
    # An admin, so the admin operations are exercised too (it is the only admin: the API
    # refuses to demote or deactivate it, so the run cannot lock itself out).
    scratch.psql(f"UPDATE users SET role = 'admin' WHERE handle = '{lib.BENCH_USER}'")
    try:
        # Generated requests come fast and from one address: lift the sign-in rate limits for
        # this server, so the checks see the API's answers rather than 429s.
        api = lib.serve(scratch.env, WORK / "contract-serve.log", PORT,
                        {"AUTH_RATE_MAX_PER_ACCOUNT": "1000000", "AUTH_RATE_MAX_PER_IP": "1000000",
                         "MAX_UPLOAD_BYTES": str(10 * 1024 * 1024)})
        try:
            base = f"http://127.0.0.1:{PORT}"
            cmd = [str(VENV_PYTHON), str(SCHEMATHESIS_CLI), "--config-file", str(lib.ROOT / "bench" / "schemathesis.toml"),
                   "run", f"{base}/api/openapi.json",
                   "--url", base,
                   "--checks", "all",
                   "--phases", "examples,coverage,fuzzing,stateful",
                   "--max-examples", os.environ.get("CONTRACT_MAX_EXAMPLES", "30"),
                   "--workers", "2",
                   "--seed", os.environ.get("CONTRACT_SEED", "20261130"),
                   "--request-timeout", "20",
                   "--suppress-health-check", "all",
                   "-H", f"Authorization: Bearer {lib.TOKEN}",
                   # Signing out would end the token every later request uses.
                   "--exclude-path", "/api/auth/logout-all",
                   "--exclude-path", "/api/auth/logout",
                   "--exclude-path", "/api/auth/refresh",
                   # A stream that lasts until the access token expires: every request would
                   # time out. tests/api/events.rs checks it.
                   "--exclude-path", "/api/events"]
            print("[contract] " + " ".join(c if "Bearer" not in c else "Authorization: Bearer …" for c in cmd),
                  flush=True)
            result = subprocess.run(cmd, cwd=WORK)
            if api.panicked():
                print("[contract] the server panicked; see bench/work/contract-serve.log", flush=True)
                return 1
            return result.returncode
        finally:
            api.stop()
    finally:
        scratch.drop()


if __name__ == "__main__":
    sys.exit(main())
