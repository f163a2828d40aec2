"""What bench.py and faults.py share: the local stack's settings, a scratch database and bucket,
DocuVault processes (release build) with their RSS, HTTP helpers, and wrk.

Standard library only; external tools are curl, psql, wrk and pdftotext (bench/run.sh installs
what is missing).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The release build; `make test`'s end-to-end run passes the debug build it already has.
BIN = Path(os.environ.get("DOCUVAULT_BIN", ROOT / "target" / "release" / "docuvault"))
STACK_ENV = ROOT / ".stack" / "docuvault.env"
# Every run works as one user, made the way an operator makes one (`docuvault user create`,
# password on stdin); `serve` signs in and the HTTP helpers and wrk send the access token.
BENCH_USER = "bench"
BENCH_PASSWORD = "bench-run-passphrase"
TOKEN: str | None = None


def auth_headers() -> dict[str, str]:
    return {"authorization": f"Bearer {TOKEN}"} if TOKEN else {}


def stack_env() -> dict[str, str]:
    env = {}
    for line in STACK_ENV.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            env[k] = v
    return env


def with_db(url: str, db: str) -> str:
    return url[: url.rfind("/")] + "/" + db


class Scratch:
    """A database `dvt_<tag>` and bucket `dvt-<tag>` of the run's own (the `dvt` prefix lets
    `scripts/stack.sh sweep` remove them if the run is killed)."""

    def __init__(self, tag: str):
        # Every service must be up before a run starts; one that had to be started again is
        # said loudly (it went down by itself since the last run).
        up = subprocess.run([str(ROOT / "scripts" / "stack.sh"), "up"], capture_output=True, text=True)
        if up.returncode != 0:
            raise RuntimeError(f"scripts/stack.sh up failed: {up.stderr.strip()[-500:]}")
        for line in (up.stdout + up.stderr).splitlines():
            if "] starting" in line:
                print(f"[bench] WARNING: a service was down and was started again: {line}", flush=True)
        self.stack = stack_env()
        self.db = f"dvt_{tag}"
        self.bucket = f"dvt-{tag.replace('_', '-')}"
        self.admin = self.stack["DOCUVAULT_TEST_PG_ADMIN_URL"]
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "DATABASE_URL": with_db(self.stack["DATABASE_URL"], self.db),
            "DATABASE_MIGRATE_URL": with_db(self.stack["DATABASE_MIGRATE_URL"], self.db),
            "MINIO_ENDPOINT": self.stack["MINIO_ENDPOINT"],
            "MINIO_REGION": self.stack.get("MINIO_REGION", "us-east-1"),
            "MINIO_BUCKET": self.bucket,
            "MINIO_ACCESS_KEY": self.stack["DOCUVAULT_TEST_S3_ROOT_ACCESS_KEY"],
            "MINIO_SECRET_KEY": self.stack["DOCUVAULT_TEST_S3_ROOT_SECRET_KEY"],
            "REDIS_URL": self.stack["REDIS_URL"],
            "REDIS_KEY_PREFIX": f"dvt-{tag.replace('_', '-')}",
            "SECRET_KEY": self.stack["SECRET_KEY"],
            "LOG_FORMAT": "json",
            # As deployed (Dockerfile, scripts/run.sh, docs/deploy.md): see the README.
            "GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=4194304",
            "RAYON_NUM_THREADS": "1",
            "RUST_LOG": "info",
            # The runs store gigabytes as one user: the default 100 MiB quota would refuse them.
            "QUOTA_DEFAULT_BYTES": str(1 << 40),
            # The local classifier as shipped: by meaning, with the model the stack installed.
            "MODEL_DIR": self.stack.get("MODEL_DIR", ""),
        }
        self.drop()
        self.psql(f"CREATE DATABASE {self.db} OWNER docuvault_migrate", db="postgres")
        run([str(BIN), "migrate"], env=self.env)
        subprocess.run([str(BIN), "user", "create", "--handle", BENCH_USER, "--email",
                        f"{BENCH_USER}@example.org"], env=self.env, input=BENCH_PASSWORD + "\n",
                       check=True, capture_output=True, text=True)
        self.user_id = self.psql(f"SELECT id FROM users WHERE handle = '{BENCH_USER}'")

    def psql(self, sql: str, db: str | None = None) -> str:
        url = with_db(self.admin, db or self.db)
        out = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                             check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def s3_url(self, key: str = "") -> str:
        return f"{self.env['MINIO_ENDPOINT'].rstrip('/')}/{self.bucket}/{key}"

    def s3_put(self, key: str, path: Path) -> None:
        """A direct PUT of a file to the same store (the reference for upload throughput)."""
        creds = f"{self.env['MINIO_ACCESS_KEY']}:{self.env['MINIO_SECRET_KEY']}"
        run(["curl", "-sS", "-f", "-o", "/dev/null", "--aws-sigv4", "aws:amz:us-east-1:s3",
             "--user", creds, "-T", str(path), self.s3_url(key)])

    def drop(self) -> None:
        subprocess.run(["psql", "-X", "-q", with_db(self.admin, "postgres"), "-c",
                        f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)"], capture_output=True)
        # The queue stream and metrics of an earlier run would otherwise be read by this one.
        prefix = self.env["REDIS_KEY_PREFIX"]
        subprocess.run(["redis-cli", "-u", self.stack["REDIS_URL"], "--no-auth-warning", "DEL",
                        f"{prefix}:jobs", f"{prefix}:metrics"], capture_output=True)
        subprocess.run(["sh", "-c", f"redis-cli -u \"$URL\" --no-auth-warning --scan --pattern '{prefix}:rl:*' "
                        f"| xargs -r redis-cli -u \"$URL\" --no-auth-warning DEL"],
                       env={"URL": self.stack["REDIS_URL"], "PATH": os.environ.get("PATH", "")},
                       capture_output=True)
        subprocess.run([str(ROOT / "scripts" / "stack.sh"), "sweep"], capture_output=True)


def run(cmd: list[str], env: dict[str, str] | None = None) -> str:
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {out.stderr.strip()[:500]}")
    return out.stdout


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


class Process:
    """A `docuvault` process with its log in a file; `peak` samples its RSS in a thread."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, extra: dict | None = None):
        self.log_path = log
        self.log = open(log, "w")
        full = dict(env, **(extra or {}))
        self.proc = subprocess.Popen([str(BIN), *args], env=full, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self._peak = 0
        self._sampling = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss(self) -> int:
        return rss_kib(self.pid)

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def sample_peak(self) -> None:
        self._peak = self.rss()
        self._sampling = True

        def loop():
            while self._sampling:
                self._peak = max(self._peak, self.rss())
                time.sleep(0.01)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop_sampling(self) -> int:
        self._sampling = False
        self._thread.join()
        return self._peak

    def stop(self, sig: int = 15) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def panicked(self) -> bool:
        return "panicked" in self.log_path.read_text(errors="replace")


def serve(env: dict[str, str], log: Path, port: int, extra: dict | None = None) -> Process:
    p = Process(["serve"], env, log, dict(extra or {}, BIND_ADDR=f"127.0.0.1:{port}"))
    wait_until(lambda: http("GET", f"http://127.0.0.1:{port}/health", timeout=1)[0] == 200, 30,
               "the API to answer /health")
    sign_in(port)
    return p


def sign_in(port: int) -> None:
    global TOKEN
    status, body = http("POST", f"http://127.0.0.1:{port}/api/auth/login",
                        {"login": BENCH_USER, "password": BENCH_PASSWORD})
    if status != 200:
        raise RuntimeError(f"login answered {status}: {body}")
    TOKEN = body["access_token"]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, timeout: float, what: str, every: float = 0.05) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if cond():
                return time.monotonic() - start
        except OSError:
            pass
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def http(method: str, url: str, body: dict | None = None, timeout: float = 10) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    headers = dict(auth_headers(), **({"content-type": "application/json"} if data else {}))
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw[:1] in (b"{", b"[") else {}
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, {}


def upload(port: int, path: Path, timeout: float = 600) -> tuple[int, dict]:
    auth = [f"-H{k}: {v}" for k, v in auth_headers().items()]
    out = subprocess.run(["curl", "-sS", "-m", str(timeout), "-w", "\n%{http_code}", *auth, "-F",
                          f"file=@{path}", f"http://127.0.0.1:{port}/api/documents/upload"],
                         capture_output=True, text=True)
    body, _, code = out.stdout.rpartition("\n")
    try:
        return int(code or 0), json.loads(body or "{}")
    except ValueError:
        return int(code or 0), {}


def cursor(created_micros: int, doc_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_micros}.{doc_id}".encode()).decode().rstrip("=")


def wrk(url: str, seconds: int, connections: int, script: Path | None = None,
        threads: int = 2) -> dict:
    """Runs wrk and returns requests/s, p50/p99 latency (ms) and the error counts."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    for k, v in auth_headers().items():
        cmd += ["-H", f"{k}: {v}"]
    if script:
        cmd += ["-s", str(script)]
    out = run(cmd + [url])
    return parse_wrk(out)


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(out: str) -> dict:
    lat = {p: _ms(v, u) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)}
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "requests": total,
        "rps": rps,
        "p50_ms": lat.get("50"),
        "p99_ms": lat.get("99"),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(x) for x in sock.groups()) if sock else 0,
    }


def machine() -> dict:
    mem_kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    commit = run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]).strip()
    dirty = bool(run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"]).strip())
    return {"cores": os.cpu_count(), "memory_gib": round(mem_kib / 1024 / 1024, 1),
            "commit": commit + ("-dirty" if dirty else ""),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
