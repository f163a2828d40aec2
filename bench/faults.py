"""`make test-faults`: fault drills on the local stack with documents in flight.

For each scenario: a fresh database and bucket, `docuvault serve` and two workers, 150 real
PDFs uploaded while the workers are stopped (so all are waiting), the workers started, and once
a fifth are done the fault is injected:

  kill9-worker      SIGKILL one worker mid-job (it is not restarted)
  restart-redis     stop Redis for 5 s, then start it again
  restart-postgres  stop PostgreSQL for 5 s, then start it again
  stop-s3           stop the object store for 10 s, then start it again

During the outage the API is probed every 0.5 s (health, list, a small upload): every answer
must come within 2 s and be a success or a 503. Afterwards: documents lost (accepted uploads
that are missing or not finished) and stuck (still pending or processing 180 s after the
fault) must both be 0, and no process may have panicked. Exits 1 if any check fails.

Writes bench/results/faults.md and faults.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bench
import lib

PORT = 18091
DOCS = 150
STACK = str(lib.ROOT / "scripts" / "stack.sh")
WORKER_ENV = {"JOB_VISIBILITY_SECS": "10", "JOB_RETRY_BASE_MS": "500", "JOB_MAX_ATTEMPTS": "10",
              "WORKER_CONCURRENCY": "1"}


def log(msg: str) -> None:
    print(f"[faults] {msg}", flush=True)


def stack(*args: str) -> None:
    done = subprocess.run([STACK, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/stack.sh {' '.join(args)} failed: {done.stderr.strip()[-800:]}")


class Prober:
    """Probes the API every 0.5 s while `running`; keeps status codes and the slowest answer."""

    def __init__(self, port: int, sample: Path):
        self.port, self.sample = port, sample
        self.codes: dict[str, dict[int, int]] = {"health": {}, "list": {}, "upload": {}}
        self.slowest = 0.0
        self.running = True
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def probe(self, name: str, fn) -> None:
        t = time.monotonic()
        try:
            code = fn()
        except Exception:  # a connection refused or a timeout is an answer too: the worst kind
            code = 0
        self.slowest = max(self.slowest, time.monotonic() - t)
        self.codes[name][code] = self.codes[name].get(code, 0) + 1

    def loop(self) -> None:
        base = f"http://127.0.0.1:{self.port}"
        while self.running:
            self.probe("health", lambda: lib.http("GET", f"{base}/health", timeout=5)[0])
            self.probe("list", lambda: lib.http("GET", f"{base}/api/documents?limit=5", timeout=5)[0])
            self.probe("upload", lambda: lib.upload(self.port, self.sample, timeout=5)[0])
            time.sleep(0.5)

    def stop(self) -> dict:
        self.running = False
        self.thread.join()
        bad = sum(n for codes in self.codes.values() for c, n in codes.items() if c not in (200, 201, 503))
        return {"answers": self.codes, "slowest_s": round(self.slowest, 2), "bad_answers": bad}


def counts(scratch: lib.Scratch) -> dict[str, int]:
    rows = scratch.psql("SELECT status, count(*) FROM documents GROUP BY status")
    return {s: int(n) for s, n in (r.split("|") for r in rows.splitlines() if r)}


def scenario(name: str, files: list[Path], sample: Path) -> dict:
    log(f"--- {name}")
    scratch = lib.Scratch(f"faults_{name.replace('-', '_')}")
    work = bench.WORK
    procs = []
    try:
        api = lib.serve(scratch.env, work / f"faults-{name}-serve.log", PORT)
        procs.append(api)
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda f: lib.upload(PORT, f), files))
        accepted = [body["id"] for code, body in answers if code == 201]
        assert len(accepted) == len(files), "uploads before the fault must all succeed"
        workers = [lib.Process(["worker"], scratch.env, work / f"faults-{name}-worker{i}.log", WORKER_ENV)
                   for i in range(2)]
        procs += workers
        lib.wait_until(lambda: counts(scratch).get("classified", 0) >= len(files) // 5, 120,
                       "a fifth of the documents to be classified", every=0.02)
        in_flight = sum(n for s, n in counts(scratch).items() if s in ("pending", "processing"))
        prober = Prober(PORT, sample)
        fault_start = time.monotonic()
        if name == "kill9-worker":
            workers[0].stop(sig=9)
        elif name == "restart-redis":
            stack("stop", "redis"); time.sleep(5); stack("up")
        elif name == "restart-postgres":
            stack("stop", "postgres"); time.sleep(5); stack("up")
        elif name == "stop-s3":
            stack("stop", "s3"); time.sleep(10); stack("up")
        fault_end = time.monotonic()
        outage = prober.stop()
        # Uploads the probes got accepted during the outage must be processed too.
        accepted += [r for r in scratch.psql("SELECT id FROM documents WHERE filename = 'probe.txt'").splitlines()]
        total = len(accepted)
        try:
            recovered = lib.wait_until(
                lambda: sum(n for s, n in counts(scratch).items() if s in ("pending", "processing")) == 0,
                180, "every document to finish", every=0.1)
        except TimeoutError:
            recovered = None
        final = counts(scratch)
        present = set(scratch.psql("SELECT id FROM documents WHERE status IN ('classified','failed')").splitlines())
        lost = sum(1 for i in accepted if i not in present)
        stuck = final.get("pending", 0) + final.get("processing", 0)
        for p in procs:
            p.stop()
        panics = [p.log_path.name for p in procs if p.panicked()]
        result = {
            "in_flight_at_fault": in_flight, "documents": total, "final": final,
            "lost": lost, "stuck": stuck, "outage_s": round(fault_end - fault_start, 1),
            "recovered_after_s": None if recovered is None else round(recovered, 1),
            "api_during_outage": outage, "panics": panics,
        }
        result["ok"] = (lost == 0 and stuck == 0 and not panics and outage["bad_answers"] == 0
                        and outage["slowest_s"] <= 2.0 and final.get("failed", 0) == 0)
        log(json.dumps(result))
        return result
    finally:
        for p in procs:
            p.stop()
        subprocess.run([STACK, "up"], capture_output=True)
        scratch.drop()


def render(results: dict, machine: dict) -> str:
    out = [f"# DocuVault fault drills — {machine['date']}", "",
           f"Machine: {machine['cores']} cores, {machine['memory_gib']} GiB; commit `{machine['commit']}`. "
           "Reproduce: `make test-faults`.", "",
           "| scenario | in flight at the fault | lost | stuck | failed | outage | recovered after | API during the outage (code: count) | slowest answer | panics | verdict |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        api = "; ".join(f"{k} " + ", ".join(f"{c}: {n}" for c, n in sorted(v.items()))
                        for k, v in r["api_during_outage"]["answers"].items())
        rec = "—" if r["recovered_after_s"] is None else f"{r['recovered_after_s']} s"
        out.append(f"| {name} | {r['in_flight_at_fault']} | {r['lost']} | {r['stuck']} | {r['final'].get('failed', 0)} | "
                   f"{r['outage_s']} s | {rec} | {api} | {r['api_during_outage']['slowest_s']} s | "
                   f"{', '.join(r['panics']) or 'none'} | {'ok' if r['ok'] else '**FAILED**'} |")
    out += ["", "\"Recovered after\" counts from the end of the outage until no document is pending or "
            "processing. A 503 during an outage is the intended answer; code 0 would mean no answer within 5 s.", ""]
    return "\n".join(out)


def main() -> None:
    bench.WORK.mkdir(parents=True, exist_ok=True)
    bench.RESULTS.mkdir(parents=True, exist_ok=True)
    files = bench.pdfs(DOCS)
    sample = bench.WORK / "probe.txt"
    sample.write_text("A probe upload during an outage: invoice payment.\n")
    wanted = sys.argv[1:] or ["kill9-worker", "restart-redis", "restart-postgres", "stop-s3"]
    results = {name: scenario(name, files, sample) for name in wanted if not name.startswith("--")}
    machine = lib.machine()
    (bench.RESULTS / "faults.json").write_text(json.dumps({"machine": machine, "scenarios": results}, indent=2) + "\n")
    text = render(results, machine)
    (bench.RESULTS / "faults.md").write_text(text)
    print(text)
    sys.exit(0 if all(r["ok"] for r in results.values()) else 1)


if __name__ == "__main__":
    main()
