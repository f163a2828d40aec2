"""`make bench`: DocuVault's speed and memory, each figure beside a reference measured in the same
run on the same machine (see bench/README.md for what each means). Writes
bench/results/latest.md and latest.json.

Usage: python3 bench/bench.py [--quick] [--only NAME]
  --quick: smaller files and shorter runs, to try it
  --only NAME: one part (upload, read, search, login, quota, web), printed, not written to latest.*
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import lib

QUICK = "--quick" in sys.argv
ONLY = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
WORK = lib.ROOT / ".stack" / "bench"
RESULTS = lib.ROOT / "bench" / "results"
PORT = 18090
MIB = 1024 * 1024


def log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


def make_file(path: Path, size: int) -> Path:
    """A file the API accepts (it sniffs a PDF header) of incompressible bytes."""
    if path.exists() and path.stat().st_size == size:
        return path
    with open(path, "wb") as f:
        f.write(b"%PDF-1.4\n")
        left = size - 9
        while left > 0:
            n = min(left, 8 * MIB)
            f.write(os.urandom(n))
            left -= n
    return path


def split_parts(path: Path, parts: list[dict]) -> list[Path]:
    """The file cut where a presigned upload's parts start (not timed: a browser slices a File
    without copying)."""
    out = []
    with open(path, "rb") as f:
        for part in parts:
            f.seek(part["offset"])
            p = path.with_suffix(f".part{part['number']}")
            p.write_bytes(f.read(part["size"]))
            out.append(p)
    return out


def presigned_upload(port: int, path: Path) -> tuple[float, dict]:
    """Reserve, PUT the parts straight to the store (two at a time, as the API sends its own
    multipart uploads), complete; the seconds from the first request to the document."""
    size = path.stat().st_size
    base = f"http://127.0.0.1:{port}/api/uploads"
    # Where the parts start depends only on the size: cut the file before the clock starts.
    code, probe = lib.http("POST", base, {"filename": path.name + ".pdf", "size": size})
    assert code == 201, f"reserve answered {code}: {probe}"
    files = split_parts(path, probe["parts"])
    assert lib.http("DELETE", f"{base}/{probe['id']}")[0] == 204
    try:
        t = time.monotonic()
        code, ticket = lib.http("POST", base, {"filename": path.name + ".pdf", "size": size})
        assert code == 201, f"reserve answered {code}: {ticket}"

        def put(part_file: tuple[dict, Path]) -> None:
            part, f = part_file
            lib.run(["curl", "-sS", "-f", "-o", "/dev/null", "-T", str(f), part["url"]])

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(put, zip(ticket["parts"], files)))
        code, doc = lib.http("POST", f"{base}/{ticket['id']}/complete", timeout=120)
        elapsed = time.monotonic() - t
        assert code == 201, f"complete answered {code}: {doc}"
        return elapsed, doc
    finally:
        for f in files:
            f.unlink(missing_ok=True)


def upload_throughput(scratch: lib.Scratch) -> dict:
    sizes = [(100 * MIB, 3), (1024 * MIB, 2)] if not QUICK else [(20 * MIB, 2), (100 * MIB, 1)]
    rows = []
    for size, runs in sizes:
        path = make_file(WORK / f"upload-{size // MIB}MiB.bin", size)
        # A fresh server per size: its RSS after start-up is the baseline for the growth.
        api = lib.serve(scratch.env, WORK / f"upload-serve-{size // MIB}.log", PORT,
                        {"MAX_UPLOAD_BYTES": str(2 * 1024 * MIB)})
        try:
            base = api.rss()
            api_s, s3_s, pre_s, peaks = [], [], [], []
            api_cpu, pre_cpu = [], []
            for i in range(runs):
                t = time.monotonic()
                scratch.s3_put(f"reference/{size}-{i}", path)
                s3_s.append(time.monotonic() - t)
                api.sample_peak()
                cpu = api.cpu_seconds()
                t = time.monotonic()
                code, body = lib.upload(PORT, path)
                api_s.append(time.monotonic() - t)
                api_cpu.append(api.cpu_seconds() - cpu)
                peaks.append(api.stop_sampling())
                assert code == 201, f"upload answered {code}: {body}"
                cpu = api.cpu_seconds()
                elapsed, _ = presigned_upload(PORT, path)
                pre_s.append(elapsed)
                pre_cpu.append(api.cpu_seconds() - cpu)
        finally:
            api.stop()
        path.unlink()
        api_mibs = size / MIB / statistics.median(api_s)
        s3_mibs = size / MIB / statistics.median(s3_s)
        pre_mibs = size / MIB / statistics.median(pre_s)
        gib = size / (1024 * MIB)
        rows.append({
            "size_mib": size // MIB, "runs": runs,
            "api_mib_s": round(api_mibs, 1), "direct_s3_mib_s": round(s3_mibs, 1),
            "presigned_mib_s": round(pre_mibs, 1),
            "ratio": round(api_mibs / s3_mibs, 2),
            "presigned_ratio": round(pre_mibs / s3_mibs, 2),
            "api_cpu_s_per_gib": round(statistics.median(api_cpu) / gib, 2),
            "presigned_cpu_s_per_gib": round(statistics.median(pre_cpu) / gib, 3),
            "rss_at_start_mib": round(base / 1024, 1),
            "peak_rss_growth_mib": round((max(peaks) - base) / 1024, 1),
        })
        log(f"upload {size // MIB} MiB: {rows[-1]}")
    return {"rows": rows}


def cloud_throughput(scratch: lib.Scratch) -> dict:
    """Uploads to and downloads from a WebDAV server (`rclone serve webdav`) through DocuVault,
    against curl PUT/GET to the same server in the same run; the API's RSS growth meanwhile."""
    sizes = [(100 * MIB, 3), (1024 * MIB, 1)] if not QUICK else [(20 * MIB, 2), (100 * MIB, 1)]
    dav_dir = WORK / "dav"
    shutil.rmtree(dav_dir, ignore_errors=True)
    dav_dir.mkdir(parents=True)
    dav_port, password = lib.free_port(), "bench-dav-password"
    dav = subprocess.Popen(["rclone", "serve", "webdav", str(dav_dir), "--addr", f"127.0.0.1:{dav_port}",
                            "--user", "bench", "--pass", password, "--config", "/dev/null"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dav_url = f"http://127.0.0.1:{dav_port}/"
    api = lib.serve(scratch.env, WORK / "cloud-serve.log", PORT,
                    {"MAX_UPLOAD_BYTES": str(2 * 1024 * MIB), "CLOUD_ALLOW_PRIVATE_ENDPOINTS": "true"})
    base = f"http://127.0.0.1:{PORT}"
    rows = []
    try:
        lib.wait_until(lambda: lib.http("PROPFIND", dav_url)[0] in (207, 401), 10, "the WebDAV server")
        code, conn = lib.http("POST", f"{base}/api/cloud-connections",
                              {"provider": "webdav", "display_name": "bench", "url": dav_url,
                               "username": "bench", "password": password})
        assert code == 201, f"connect answered {code}: {conn}"
        code, _ = lib.http("PUT", f"{base}/api/me/storage", {"default": conn["id"]})
        assert code == 200
        start_rss = api.rss()
        for size, runs in sizes:
            path = make_file(WORK / f"cloud-{size // MIB}MiB.bin", size)
            put_ref, put_api, get_ref, get_api, peaks = [], [], [], [], []
            for i in range(runs):
                t = time.monotonic()
                lib.run(["curl", "-sS", "-f", "-o", "/dev/null", "-u", f"bench:{password}", "-T", str(path),
                         f"{dav_url}reference-{i}.bin"])
                put_ref.append(time.monotonic() - t)
                t = time.monotonic()
                lib.run(["curl", "-sS", "-f", "-o", "/dev/null", "-u", f"bench:{password}", f"{dav_url}reference-{i}.bin"])
                get_ref.append(time.monotonic() - t)
                api.sample_peak()
                t = time.monotonic()
                code, doc = lib.upload(PORT, path)
                put_api.append(time.monotonic() - t)
                assert code == 201, f"upload answered {code}: {doc}"
                _, link = lib.http("GET", f"{base}/api/documents/{doc['id']}/download")
                t = time.monotonic()
                lib.run(["curl", "-sS", "-f", "-o", "/dev/null", f"{base}{link['url']}"])
                get_api.append(time.monotonic() - t)
                peaks.append(api.stop_sampling())
            path.unlink()
            mibs = lambda xs: size / MIB / statistics.median(xs)
            rows.append({
                "size_mib": size // MIB, "runs": runs,
                "curl_put_mib_s": round(mibs(put_ref), 1), "api_put_mib_s": round(mibs(put_api), 1),
                "put_ratio": round(mibs(put_api) / mibs(put_ref), 2),
                "curl_get_mib_s": round(mibs(get_ref), 1), "api_get_mib_s": round(mibs(get_api), 1),
                "get_ratio": round(mibs(get_api) / mibs(get_ref), 2),
                "peak_rss_growth_mib": round((max(peaks) - start_rss) / 1024, 1),
            })
            log(f"cloud {size // MIB} MiB: {rows[-1]}")
    finally:
        api.stop()
        dav.kill()
        dav.wait()
        shutil.rmtree(dav_dir, ignore_errors=True)
    return {"rows": rows}


def seed(scratch: lib.Scratch, n: int) -> None:
    scratch.psql(f"""
        INSERT INTO topics (user_id, name, description)
             SELECT '{scratch.user_id}', 'Topic ' || i, 'seeded' FROM generate_series(1, 5) i;
        INSERT INTO documents (user_id, filename, object_key, content_type, size_bytes, status,
                               extracted_text, created_at, processed_at)
             SELECT '{scratch.user_id}', 'seeded-' || i || '.pdf', '{scratch.user_id}/seed/' || i || '.pdf',
                    'application/pdf', 1000 + i, 'classified', 'seeded text ' || i,
                    now() - make_interval(secs => i), now()
               FROM generate_series(1, {n}) i;
        INSERT INTO document_topics (document_id, topic_id)
             SELECT d.id, (SELECT id FROM topics ORDER BY name LIMIT 1) FROM documents d;
        -- Ten folders, the documents spread over them in turn (a tenth each).
        INSERT INTO folders (user_id, name) SELECT '{scratch.user_id}', 'Folder ' || i FROM generate_series(0, 9) i;
        UPDATE documents d SET folder_id = f.id
          FROM folders f WHERE f.name = 'Folder ' || (hashtext(d.id::text) & 2147483647) % 10;
        ANALYZE;
    """)


METRICS_TOKEN = "bench-metrics-token-0123456789"


def scrape_latency(url: str, n: int) -> float:
    """Median time of `n` authenticated `GET /metrics` scrapes, one after another (ms)."""
    times = []
    for _ in range(n):
        req = urllib.request.Request(url, headers={"authorization": f"Bearer {METRICS_TOKEN}"})
        t = time.monotonic()
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()
            assert r.status == 200, r.status
        times.append((time.monotonic() - t) * 1000)
    return statistics.median(times)


def read_latency(scratch: lib.Scratch) -> dict:
    n = 100_000 if not QUICK else 20_000
    seconds = 10 if not QUICK else 3
    seed(scratch, n)
    deep = int(n * 0.9)
    micros, deep_id = scratch.psql(
        "SELECT (extract(epoch FROM created_at) * 1000000)::bigint, id FROM documents "
        f"ORDER BY created_at DESC, id DESC OFFSET {deep} LIMIT 1").split("|")
    one_id = scratch.psql("SELECT id FROM documents ORDER BY created_at DESC OFFSET 500 LIMIT 1")
    folder_id = scratch.psql("SELECT id FROM folders WHERE name = 'Folder 3'")
    api = lib.serve(scratch.env, WORK / "read-serve.log", PORT, {"METRICS_TOKEN": METRICS_TOKEN})
    base = f"http://127.0.0.1:{PORT}"
    targets = {
        "first page (50)": f"{base}/api/documents?limit=50",
        f"page after row {deep:,} (50)": f"{base}/api/documents?limit=50&cursor={lib.cursor(int(micros), deep_id)}",
        "one document by id": f"{base}/api/documents/{one_id}",
        f"first page of one folder ({n // 10:,} documents, 50)": f"{base}/api/documents?limit=50&folder_id={folder_id}",
    }
    rows = {}
    try:
        for name, url in targets.items():
            status, body = lib.http("GET", url)
            assert status == 200, f"{url}: {status} {body}"
            rows[name] = lib.wrk(url, seconds, 16)
            log(f"{name}: {rows[name]}")
        scrape_ms = scrape_latency(f"{base}/metrics", 30 if not QUICK else 10)
    finally:
        api.stop()
    # The reference: the same first-page query straight to PostgreSQL (pgbench, 16 clients),
    # without HTTP, JSON or the pool in between.
    script = WORK / "first-page.sql"
    script.write_text(
        "SELECT id, user_id, filename, object_key, content_type, size_bytes, status, error, "
        f"created_at, updated_at FROM documents WHERE user_id = '{scratch.user_id}' "
        "ORDER BY created_at DESC, id DESC LIMIT 51;\n")
    out = lib.run(["pgbench", "-n", "-c", "16", "-j", "2", "-T", str(seconds), "-f", str(script),
                   lib.with_db(scratch.admin, scratch.db)])
    tps = float(__import__("re").search(r"tps = ([\d.]+)", out).group(1))
    first = rows["first page (50)"]
    # The scrape's reference: the full `GROUP BY status` every scrape ran before (one client).
    group_by = WORK / "status-counts.sql"
    group_by.write_text("SELECT status, count(*) FROM documents GROUP BY status;\n")
    out = lib.run(["pgbench", "-n", "-c", "1", "-T", str(max(3, seconds // 2)), "-f", str(group_by),
                   lib.with_db(scratch.admin, scratch.db)])
    group_by_ms = float(__import__("re").search(r"latency average = ([\d.]+) ms", out).group(1))
    log(f"metrics scrape p50 {scrape_ms:.2f} ms; full GROUP BY {group_by_ms:.2f} ms")
    return {"documents": n, "seconds": seconds, "connections": 16, "rows": rows,
            "metrics_scrape_p50_ms": round(scrape_ms, 2), "full_group_by_ms": round(group_by_ms, 2),
            "scrape_vs_group_by": round(scrape_ms / group_by_ms, 3),
            "pgbench_first_page_tps": round(tps, 1),
            "first_page_vs_pgbench": round(first["rps"] / tps, 2),
            "deep_vs_first_p50": round(rows[f"page after row {deep:,} (50)"]["p50_ms"] / first["p50_ms"], 2),
            "folder_vs_first_p99": round(rows[f"first page of one folder ({n // 10:,} documents, 50)"]["p99_ms"]
                                         / first["p99_ms"], 2)}


SEARCH_QUERIES = {
    # ~half the documents (the German ones) have "Rechnung"; the plural is asked.
    "common word (Rechnungen)": "Rechnungen",
    # A reference number in a handful of documents (picked from the data below).
    "rare word (a reference number)": None,
    # Two frequent English words next to each other.
    'phrase ("payment due")': '"payment due"',
    # Search as you type: the last word as a prefix.
    "prefix (Kündig…)": "Kündig",
}


def search_reference_sql(user_id: str, q: str, prefix: str | None) -> str:
    """The statement `db::search::search` runs for a first page of 25 without filters (the 300
    newest matches ranked, the default), with the values written in: pgbench runs it alone, no
    HTTP, JSON or pool. Keep it in step with db/search.rs."""
    lit = "'" + q.replace("'", "''") + "'"

    def tsq(cfg: str) -> str:
        words = f"websearch_to_tsquery('{cfg}', {lit})"
        if prefix is None:
            return words
        pre = f"to_tsquery('{cfg}', '{prefix}' || ':*')"
        return f"({words} && {pre})" if q.strip() else pre
    en, de = tsq("docuvault_en"), tsq("docuvault_de")
    opts = "'StartSel=\x02, StopSel=\x03, MaxFragments=2, MaxWords=24, MinWords=8, FragmentDelimiter=\" … \"'"
    shared = ("UNION ALL (SELECT d.id, d.created_at, d.search_vector FROM shares s "
              f"JOIN documents d ON d.id = s.document_id WHERE s.recipient_id = '{user_id}' AND d.search_vector @@ ({en} || {de}) "
              "ORDER BY d.created_at DESC, d.id DESC LIMIT 300)")
    return (
        f"WITH q AS MATERIALIZED (SELECT en, de, en || de AS query, "
        "ARRAY(SELECT DISTINCT m[1] FROM regexp_matches((en || de)::text, '''([^'']+)''', 'g') m) AS stems "
        f"FROM (SELECT {en} AS en, {de} AS de) parsed), "
        f"newest AS (SELECT * FROM ((SELECT d.id, d.created_at, d.search_vector FROM documents d "
        f"WHERE d.user_id = '{user_id}' AND d.search_vector @@ ({en} || {de}) "
        f"ORDER BY d.created_at DESC, d.id DESC LIMIT 300) {shared}) m "
        "ORDER BY created_at DESC, id DESC LIMIT 300), "
        "hits AS MATERIALIZED (SELECT n.id, ts_rank(n.search_vector, q.query, 1) AS rank FROM newest n, q), "
        "page AS (SELECT id, rank FROM hits ORDER BY rank DESC, id DESC LIMIT 26) "
        "SELECT doc.id, page.rank, (SELECT count(*) FROM hits) AS ranked, "
        "CASE WHEN strpos(h.en, chr(2)) > 0 OR doc.body IS NULL THEN h.en "
        f"ELSE ts_headline('docuvault_de', doc.body, q.de, {opts}) END AS snippet FROM page CROSS JOIN q "
        "JOIN LATERAL (SELECT t.id, substring(t.extracted_text FROM greatest(coalesce(at.first, 1) - 150, 1) FOR 600) AS body "
        "FROM documents t LEFT JOIN LATERAL (SELECT coalesce("
        "(SELECT min(nullif(strpos(t.extracted_text, v), 0)) FROM unnest(q.stems) stem, unnest(ARRAY[stem, initcap(stem)]) v), "
        "(SELECT min(nullif(strpos(folded.text, stem), 0)) FROM (SELECT unaccent(lower(left(t.extracted_text, 30000))) AS text) folded, "
        "unnest(q.stems) stem)) AS first) at ON true "
        "WHERE t.id = page.id) doc ON true "
        f"CROSS JOIN LATERAL (SELECT ts_headline('docuvault_en', doc.body, q.en, {opts}) AS en) h "
        "ORDER BY page.rank DESC, page.id DESC;\n")


def search_latency(scratch: lib.Scratch) -> dict:
    """Full-text search at 100k documents of realistic text (bench/search_seed.sql): the API at 16
    connections beside the same statement alone through pgbench; the index's build time and size."""
    n = 100_000 if not QUICK else 20_000
    seconds = 10 if not QUICK else 3
    # Seeded without the GIN index, which is then built once and timed.
    scratch.psql("DROP INDEX ix_documents_search")
    t = time.monotonic()
    lib.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"user={scratch.user_id}", "-v", f"n={n}",
             "-f", str(lib.ROOT / "bench" / "search_seed.sql"), lib.with_db(scratch.admin, scratch.db)])
    seed_s = time.monotonic() - t
    t = time.monotonic()
    scratch.psql("CREATE INDEX ix_documents_search ON documents USING gin (user_id, search_vector); ANALYZE documents")
    index_s = time.monotonic() - t
    sizes = scratch.psql(
        "SELECT pg_relation_size('ix_documents_search'), sum(octet_length(extracted_text)), "
        "sum(pg_column_size(search_vector)), count(*) FILTER (WHERE octet_length(extracted_text) > 100000) "
        "FROM documents").split("|")
    rare = scratch.psql("SELECT substring(extracted_text from 'ref[0-9]+') FROM documents "
                        "WHERE extracted_text ~ 'ref[0-9]+' ORDER BY id LIMIT 1")
    queries = {name: (q if q is not None else rare) for name, q in SEARCH_QUERIES.items()}
    api = lib.serve(scratch.env, WORK / "search-serve.log", PORT, {})
    base = f"http://127.0.0.1:{PORT}"
    rows = {}
    try:
        for name, q in queries.items():
            url = f"{base}/api/search?limit=25&q={urllib.parse.quote(q)}"
            status, body = lib.http("GET", url)
            assert status == 200, f"{url}: {status} {body}"
            matches = scratch.psql(
                "SELECT count(*) FROM documents, (SELECT websearch_to_tsquery('docuvault_en', $q$" + q +
                "$q$) || websearch_to_tsquery('docuvault_de', $q$" + q + "$q$) AS query) q WHERE search_vector @@ q.query")
            rows[name] = dict(lib.wrk(url, seconds, 16), query=q, first_page=len(body["items"]),
                              matches_without_prefix=int(matches))
            log(f"search {name}: {rows[name]}")
    finally:
        api.stop()
    for name, q in queries.items():
        last = q.split()[-1]
        prefix = last.lower() if last.isalnum() and len(last) >= 3 else None
        words = q[: len(q) - len(last)].strip() if prefix else q
        script = WORK / "search.sql"
        script.write_text(search_reference_sql(scratch.user_id, words, prefix))
        out = lib.run(["pgbench", "-n", "-c", "16", "-j", "2", "-T", str(seconds), "-r", "-f", str(script),
                       lib.with_db(scratch.admin, scratch.db)])
        tps = float(__import__("re").search(r"tps = ([\d.]+)", out).group(1))
        lat = float(__import__("re").search(r"latency average = ([\d.]+) ms", out).group(1))
        rows[name].update(pgbench_tps=round(tps, 1), pgbench_mean_ms=round(lat, 2),
                          api_vs_sql=round(rows[name]["rps"] / tps, 2))
    return {"documents": n, "seconds": seconds, "connections": 16, "rows": rows,
            "seed_s": round(seed_s, 1), "index_build_s": round(index_s, 1),
            "index_mib": round(int(sizes[0]) / MIB, 1), "text_mib": round(int(sizes[1]) / MIB, 1),
            "vectors_mib": round(int(sizes[2]) / MIB, 1), "over_100kb": int(sizes[3])}


def render_search(s: dict) -> list[str]:
    out = ["", f"## Search ({s['documents']:,} documents, {s['text_mib']} MiB of text, {s['over_100kb']} over 100 KB; "
           f"wrk, {s['connections']} connections, {s['seconds']} s)", "",
           "| query | matches | API requests/s | p50 | p99 | errors | same SQL alone (pgbench) | API ÷ SQL |",
           "|---|---|---|---|---|---|---|---|"]
    for name, row in s["rows"].items():
        out.append(f"| {name} | {row['matches_without_prefix']:,} | {row['rps']:.0f} | {row['p50_ms']:.2f} ms | "
                   f"**{row['p99_ms']:.2f} ms** | {row['non_2xx'] + row['socket_errors']} | {row['pgbench_tps']:.0f} tps "
                   f"({row['pgbench_mean_ms']} ms mean) | **{row['api_vs_sql']}** |")
    out += ["", f"GIN index `(user_id, search_vector)`: built in **{s['index_build_s']} s**, **{s['index_mib']} MiB**; "
            f"the vectors themselves {s['vectors_mib']} MiB (English + German lexemes with positions). "
            f"Seeding (text generated in SQL, vectors by the trigger) took {s['seed_s']} s. "
            "Matches: documents matching the query (for the prefix row, the whole word). "
            "Anchor: paperless-ngx reports 126 ms to 1.9 s per search at 14k documents."]
    return out


def pdfs(count: int) -> list[Path]:
    out = WORK / f"pdfs-{count}"
    files = sorted(out.glob("invoice-*.pdf"))
    if len(files) < count:
        venv = lib.ROOT / ".stack" / "bench-venv"
        if not (venv / "bin" / "python").exists():
            lib.run([sys.executable, "-m", "venv", str(venv)])
            lib.run([str(venv / "bin" / "pip"), "install", "-q", "fpdf2==2.8.9"])
        log(f"writing {count} PDFs with fpdf2")
        lib.run([str(venv / "bin" / "python"), str(lib.ROOT / "bench" / "pdf" / "make_pdfs.py"),
                 str(out), "--many", str(count)])
        files = sorted(out.glob("invoice-*.pdf"))
    return files[:count]


def ingestion(scratch: lib.Scratch, footprint: dict) -> dict:
    count = 300 if not QUICK else 60
    files = pdfs(count)
    pages = sum(int(lib.run(["pdfinfo", str(f)]).split("Pages:")[1].split()[0]) for f in files)
    scratch.psql("INSERT INTO topics (user_id, name, description) "
                 "SELECT u.id, t.name, t.description FROM users u, (VALUES "
                 "('Finance', 'invoice payment bank account balance refund euros tax'), "
                 "('Health', 'hospital doctor prescription pharmacy insurance'), "
                 "('Travel', 'airline booking reference flight hotel')) t(name, description)")
    api = lib.serve(scratch.env, WORK / "ingest-serve.log", PORT)
    footprint["serve_after_start_mib"] = round(api.rss() / 1024, 1)
    runs = {}
    try:
        for workers in (1, 2):
            procs = [lib.Process(["worker"], scratch.env, WORK / f"ingest-worker{workers}-{i}.log")
                     for i in range(workers)]
            time.sleep(1.0)
            if workers == 1:
                lib.wait_until(lambda: '"worker started"' in (WORK / "ingest-worker1-0.log").read_text(), 60,
                               "the worker to start")
                footprint["worker_after_start_mib"] = round(procs[0].rss() / 1024, 1)
                for line in (WORK / "ingest-worker1-0.log").read_text().splitlines():
                    if '"embedding model loaded"' in line:
                        footprint["model_load_ms"] = json.loads(line)["fields"]["ms"]
            done_before = int(scratch.psql("SELECT count(*) FROM documents WHERE status IN ('classified','failed')"))
            start = time.monotonic()
            with ThreadPoolExecutor(16) as pool:
                codes = list(pool.map(lambda f: lib.upload(PORT, f)[0], files))
            assert codes.count(201) == count, f"uploads answered {sorted(set(codes))}"
            uploaded = time.monotonic() - start
            lib.wait_until(lambda: int(scratch.psql(
                "SELECT count(*) FROM documents WHERE status IN ('classified','failed')")) - done_before >= count,
                600, "every document to be processed", every=0.1)
            elapsed = time.monotonic() - start
            failed = int(scratch.psql("SELECT count(*) FROM documents WHERE status = 'failed'"))
            runs[f"{workers} worker{'s' if workers > 1 else ''}"] = {
                "documents": count, "pages": pages, "uploads_done_s": round(uploaded, 1),
                "all_processed_s": round(elapsed, 1), "documents_per_s": round(count / elapsed, 1),
                "failed": failed}
            log(f"ingestion with {workers} worker(s): {runs[list(runs)[-1]]}")
            if workers == 1:
                footprint["worker_after_ingestion_mib"] = round(procs[0].rss() / 1024, 1)
            for p in procs:
                p.stop()
        footprint["serve_after_ingestion_mib"] = round(api.rss() / 1024, 1)
    finally:
        api.stop()
    # Per-document job time (fetch, extract, classify, write) from the jobs' own log lines,
    # against pdftotext alone on the same files.
    job_secs = []
    for logf in WORK.glob("ingest-worker*.log"):
        for line in logf.read_text().splitlines():
            if '"job finished"' in line:
                job_secs.append(json.loads(line)["fields"]["seconds"])
    t = time.monotonic()
    for f in files:
        subprocess.run(["pdftotext", "-q", "-enc", "UTF-8", str(f), "/dev/null"], check=True)
    pdftotext_ms = (time.monotonic() - t) / len(files) * 1000
    job_ms = statistics.mean(job_secs) * 1000
    return {"runs": runs, "job_mean_ms": round(job_ms, 1), "pdftotext_mean_ms": round(pdftotext_ms, 1),
            "job_vs_pdftotext": round(job_ms / pdftotext_ms, 2),
            "two_vs_one_worker": round(runs["2 workers"]["documents_per_s"] / runs["1 worker"]["documents_per_s"], 2)}


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def ocr_throughput(scratch: lib.Scratch) -> dict:
    """OCR: the first pages of the ingestion PDFs rendered to 200 dpi grey PNGs (pdftoppm) and
    uploaded as images; pages/s through the worker (WORKER_CONCURRENCY=1), each job's time
    beside `tesseract` alone on the same file, and the character error rate against the page's
    own text layer (whitespace collapsed)."""
    count = 12 if not QUICK else 4
    out = WORK / "scans"
    out.mkdir(parents=True, exist_ok=True)
    pages = []
    for f in pdfs(count):
        png = out / f"{f.stem}.png"
        if not png.exists():
            lib.run(["pdftoppm", "-q", "-gray", "-png", "-r", "200", "-f", "1", "-l", "1", "-singlefile",
                     str(f), str(png.with_suffix(""))])
        text = lib.run(["pdftotext", "-q", "-enc", "UTF-8", "-f", "1", "-l", "1", str(f), "-"])
        pages.append((png, " ".join(text.split())))
    api = lib.serve(scratch.env, WORK / "ocr-serve.log", PORT, {})
    # One job at a time, so a job has what `tesseract` alone has below: the ratio is the job's
    # own overhead (fetch, render, classify, thumbnail, write), not two jobs sharing 2 cores.
    worker = lib.Process(["worker"], scratch.env, WORK / "ocr-worker.log", {"WORKER_CONCURRENCY": "1"})
    try:
        start = time.monotonic()
        ids = []
        for png, _ in pages:
            status, body = lib.upload(PORT, png)
            assert status == 201, body
            ids.append(body["id"])
        lib.wait_until(lambda: scratch.psql(
            "SELECT count(*) FROM documents WHERE status IN ('pending', 'processing')") == "0",
            900, "every scan to be read", every=0.2)
        elapsed = time.monotonic() - start
        texts = []
        for doc_id in ids:
            status, doc = lib.http("GET", f"http://127.0.0.1:{PORT}/api/documents/{doc_id}")
            assert status == 200 and doc["status"] == "classified", doc
            texts.append(" ".join((doc["extracted_text"] or "").split()))
    finally:
        worker.stop()
        api.stop()
    job_secs = [json.loads(line)["fields"]["seconds"] for line in (WORK / "ocr-worker.log").read_text().splitlines()
                if '"job finished"' in line]
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    alone = []
    for png, _ in pages:
        t = time.monotonic()
        subprocess.run(["tesseract", str(png), "stdout", "-l", "eng+deu"], env=env, capture_output=True, check=True)
        alone.append(time.monotonic() - t)
    errors = sum(edit_distance(got, want) for got, (_, want) in zip(texts, pages))
    chars = sum(len(want) for _, want in pages)
    return {"pages": count, "wall_s": round(elapsed, 1), "pages_per_s": round(count / elapsed, 2),
            "job_mean_s": round(statistics.mean(job_secs), 2), "tesseract_mean_s": round(statistics.mean(alone), 2),
            "job_vs_tesseract": round(statistics.mean(job_secs) / statistics.mean(alone), 2),
            "cer": round(errors / chars, 4)}


def login_timing(scratch: lib.Scratch) -> dict:
    """Login latency, and whether a wrong password and an unknown account can be told apart by
    time (both must run a full Argon2id verification). The two kinds alternate, so drift on the
    machine hits both alike; rate limits are lifted for this server only."""
    n = 40 if not QUICK else 10
    api = lib.serve(scratch.env, WORK / "login-serve.log", PORT,
                    {"AUTH_RATE_MAX_PER_ACCOUNT": "100000", "AUTH_RATE_MAX_PER_IP": "100000"})
    url = f"http://127.0.0.1:{PORT}/api/auth/login"

    def timed(body: dict, want: int) -> float:
        t = time.monotonic()
        status, answer = lib.http("POST", url, body)
        elapsed = time.monotonic() - t
        assert status == want, f"login answered {status}: {answer}"
        return elapsed * 1000

    wrong, unknown, ok = [], [], []
    reset_known, reset_unknown = [], []
    reset = f"http://127.0.0.1:{PORT}/api/auth/password-reset/request"

    def timed_reset(email: str) -> float:
        t = time.monotonic()
        status, answer = lib.http("POST", reset, {"email": email})
        elapsed = time.monotonic() - t
        assert status == 202, f"reset request answered {status}: {answer}"
        return elapsed * 1000

    try:
        for i in range(n):
            wrong.append(timed({"login": lib.BENCH_USER, "password": f"not the password {i}"}, 401))
            unknown.append(timed({"login": f"nobody{i}", "password": f"not the password {i}"}, 401))
            ok.append(timed({"login": lib.BENCH_USER, "password": lib.BENCH_PASSWORD}, 200))
        # Password-reset requests: an address with an account and one without, alternating,
        # with a pause after each so the work a known address starts after its answer (lookup,
        # token, audit, email) is not still running during the next request's timing.
        for i in range(n):
            reset_known.append(timed_reset(f"{lib.BENCH_USER}@example.org"))
            time.sleep(0.1)
            reset_unknown.append(timed_reset(f"nobody{i}@example.org"))
            time.sleep(0.1)
    finally:
        api.stop()
    med = statistics.median
    result = {"attempts_each": n, "wrong_password_p50_ms": round(med(wrong), 1),
              "unknown_account_p50_ms": round(med(unknown), 1), "login_p50_ms": round(med(ok), 1),
              "unknown_vs_wrong": round(med(unknown) / med(wrong), 2),
              "reset_known_p50_ms": round(med(reset_known), 2),
              "reset_unknown_p50_ms": round(med(reset_unknown), 2),
              "reset_unknown_vs_known": round(med(reset_unknown) / med(reset_known), 2)}
    log(f"login: {result}")
    return result


def quota_contention(scratch: lib.Scratch) -> dict:
    """50 concurrent uploads charged to one quota row (one user) against 50 uploads charged to
    50 rows (50 users), in rounds: the row lock (and the per-user queue in front of it) must not
    serialise more than the one row needs."""
    rounds = 4 if not QUICK else 2
    api = lib.serve(scratch.env, WORK / "quota-serve.log", PORT,
                    {"AUTH_RATE_MAX_PER_IP": "100000", "AUTH_RATE_MAX_PER_ACCOUNT": "100000"})
    base = f"http://127.0.0.1:{PORT}"
    note = WORK / "quota-note.txt"
    note.write_bytes(b"A short note about an invoice payment. " * 800)  # 31 KiB
    try:
        tokens = []
        for i in range(50):
            handle = f"quota{i}"
            status, body = lib.http("POST", f"{base}/api/auth/register",
                                    {"handle": handle, "email": f"{handle}@example.org",
                                     "password": "a long bench passphrase"})
            assert status == 201, f"register: {status} {body}"
            status, body = lib.http("POST", f"{base}/api/auth/login",
                                    {"login": handle, "password": "a long bench passphrase"})
            assert status == 200, f"login: {status} {body}"
            tokens.append(body["access_token"])

        def one(token: str) -> float:
            t = time.monotonic()
            out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-m", "60",
                                  "-H", f"authorization: Bearer {token}", "-F", f"file=@{note}",
                                  f"{base}/api/documents/upload"], capture_output=True, text=True)
            assert out.stdout == "201", f"upload answered {out.stdout}: {out.stderr}"
            return (time.monotonic() - t) * 1000

        def run(label: str, who: list[str]) -> dict:
            times, started = [], time.monotonic()
            with ThreadPoolExecutor(max_workers=50) as pool:
                for _ in range(rounds):
                    times += list(pool.map(one, who))
            elapsed = time.monotonic() - started
            times.sort()
            row = {"uploads": len(times), "per_s": round(len(times) / elapsed, 1),
                   "p50_ms": round(times[len(times) // 2], 1),
                   "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 1)}
            log(f"quota contention, {label}: {row}")
            return row

        one_row = run("one user", [tokens[0]] * 50)
        fifty_rows = run("50 users", tokens)
    finally:
        api.stop()
    return {"rounds": rounds, "one_user": one_row, "fifty_users": fifty_rows,
            "one_vs_fifty_throughput": round(one_row["per_s"] / fifty_rows["per_s"], 2),
            "one_vs_fifty_p99": round(one_row["p99_ms"] / fifty_rows["p99_ms"], 2)}


MIXED_LUA = r"""
-- Uploads, lists, reads and health checks in turn, over every connection.
local boundary = "benchboundary"
local body = "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"note.txt\"\r\n" ..
  "Content-Type: text/plain\r\n\r\nA short note about an invoice payment.\r\n--" .. boundary .. "--\r\n"
local n = 0
request = function()
  n = n + 1
  local k = n % 4
  if k == 0 then
    return wrk.format("POST", "/api/documents/upload",
      {["Content-Type"] = "multipart/form-data; boundary=" .. boundary,
       ["Authorization"] = wrk.headers["authorization"]}, body)
  elseif k == 1 then
    return wrk.format("GET", "/api/documents?limit=20")
  elseif k == 2 then
    return wrk.format("GET", "/api/documents/DOC_ID")
  else
    return wrk.format("GET", "/health")
  end
end
"""


def mixed_load(scratch: lib.Scratch) -> dict:
    seconds = 60 if not QUICK else 10
    doc_id = scratch.psql("SELECT id FROM documents LIMIT 1")
    script = WORK / "mixed.lua"
    script.write_text(MIXED_LUA.replace("DOC_ID", doc_id))
    api = lib.serve(scratch.env, WORK / "mixed-serve.log", PORT)
    try:
        result = lib.wrk(f"http://127.0.0.1:{PORT}", seconds, 32, script)
    finally:
        api.stop()
    result["errors"] = result["non_2xx"] + result["socket_errors"]
    result["panics_in_log"] = api.panicked()
    result["seconds"] = seconds
    log(f"mixed load: {result}")
    return result


def web_app(scratch: lib.Scratch) -> dict:
    """The web app in Chromium (web/e2e/bench.mjs): what the first load transfers, and how long
    the document list of a user with 1,000 documents takes to show."""
    seed(scratch, 1000)
    api = lib.serve(scratch.env, WORK / "web-serve.log", PORT, {"COOKIE_SECURE": "false"})
    try:
        env = dict(os.environ, BASE_URL=f"http://127.0.0.1:{PORT}", LOGIN=lib.BENCH_USER,
                   PASSWORD=lib.BENCH_PASSWORD, TOKEN=lib.TOKEN or "",
                   DIST=str(lib.ROOT / "web" / "dist"))
        out = subprocess.run(["node", "e2e/bench.mjs"], cwd=lib.ROOT / "web", env=env,
                             check=True, capture_output=True, text=True).stdout
    finally:
        api.stop()
    r = json.loads(out.strip().splitlines()[-1])
    r["render_vs_api"] = round(r["render_ms"] / r["api_ms"], 1)
    log(f"web app: {r}")
    return r


def render(r: dict) -> str:
    m = r["machine"]
    out = [f"# DocuVault benchmark — {m['date']}", "",
           f"Machine: {m['cores']} cores, {m['memory_gib']} GiB; commit `{m['commit']}`"
           + (" (quick run)" if r["quick"] else "") + ". Reproduce: `make bench`.", ""]
    out += ["## Upload throughput (through the API, and presigned straight to the store, vs a direct S3 PUT to the same store)", "",
            "| file | runs | direct S3 MiB/s | API MiB/s | API ÷ S3 | presigned MiB/s | presigned ÷ S3 | API CPU s/GiB: through it | presigned | `serve` RSS at start | peak RSS growth |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in r["upload"]["rows"]:
        out.append(f"| {row['size_mib']} MiB | {row['runs']} (median) | {row['direct_s3_mib_s']} | {row['api_mib_s']} | "
                   f"**{row['ratio']}** | {row['presigned_mib_s']} | **{row['presigned_ratio']}** | "
                   f"{row['api_cpu_s_per_gib']} | **{row['presigned_cpu_s_per_gib']}** | "
                   f"{row['rss_at_start_mib']} MiB | **{row['peak_rss_growth_mib']} MiB** |")
    out += ["", "Presigned: reserve, the parts (16 MiB) PUT two at a time with curl straight to the store, "
            "complete (which joins the parts, checks the size and sniffs the first 8 KiB). "
            "CPU: user + system seconds of the `serve` process during the upload, per GiB."]
    if "cloud" in r:
        out += ["", "## Own cloud: a WebDAV server (`rclone serve webdav` on loopback), through DocuVault vs curl to the same server", "",
                "| file | runs | curl PUT MiB/s | API upload MiB/s | API ÷ curl | curl GET MiB/s | API download MiB/s | API ÷ curl | `serve` peak RSS growth |",
                "|---|---|---|---|---|---|---|---|---|"]
        for row in r["cloud"]["rows"]:
            out.append(f"| {row['size_mib']} MiB | {row['runs']} (median) | {row['curl_put_mib_s']} | {row['api_put_mib_s']} | "
                       f"**{row['put_ratio']}** | {row['curl_get_mib_s']} | {row['api_get_mib_s']} | **{row['get_ratio']}** | "
                       f"**{row['peak_rss_growth_mib']} MiB** |")
        out += ["", "API upload: multipart POST to `/api/documents/upload`, sniffed and streamed on to the server as one "
                "chunked PUT; API download: the download link, streamed from the server through the API."]
    lat = r["read"]
    out += ["", f"## List and read latency ({lat['documents']:,} documents, wrk, {lat['connections']} connections, {lat['seconds']} s)", "",
            "| request | requests/s | p50 | p99 | errors |", "|---|---|---|---|---|"]
    for name, row in lat["rows"].items():
        out.append(f"| {name} | {row['rps']:.0f} | {row['p50_ms']:.2f} ms | {row['p99_ms']:.2f} ms | "
                   f"{row['non_2xx'] + row['socket_errors']} |")
    out += ["", f"Reference: the first-page query alone through pgbench (16 clients): {lat['pgbench_first_page_tps']:.0f} tps; "
            f"API / pgbench = **{lat['first_page_vs_pgbench']}**. Deep page p50 / first page p50 = **{lat['deep_vs_first_p50']}** (keyset pagination). "
            f"One folder's first page p99 / the whole list's first page p99 = **{lat.get('folder_vs_first_p99', 'n/a')}** "
            "(index `(user_id, folder_id, created_at, id)`).", "",
            f"`GET /metrics` at {lat['documents']:,} documents: p50 **{lat['metrics_scrape_p50_ms']} ms** per scrape (HTTP included); "
            f"the full `GROUP BY status` each scrape ran before takes {lat['full_group_by_ms']} ms alone → scrape / old query = "
            f"**{lat['scrape_vs_group_by']}**."]
    lg = r["login"]
    out += ["", f"## Login (Argon2id m=19 MiB, t=2, p=1; {lg['attempts_each']} of each kind, alternating)", "",
            "| attempt | p50 |", "|---|---|",
            f"| right password | {lg['login_p50_ms']} ms |",
            f"| wrong password, existing account | {lg['wrong_password_p50_ms']} ms |",
            f"| no such account | {lg['unknown_account_p50_ms']} ms |", "",
            f"No such account / wrong password = **{lg['unknown_vs_wrong']}** (1.0: the answer's timing does not tell whether an account exists).", "",
            f"Password-reset request ({lg['attempts_each']} of each, alternating): address with an account {lg['reset_known_p50_ms']} ms, "
            f"without {lg['reset_unknown_p50_ms']} ms p50 → unknown / known = **{lg['reset_unknown_vs_known']}** "
            "(1.0: the lookup, token and email happen after the answer)."]
    qc = r["quota"]
    out += ["", f"## One quota row under 50 concurrent uploads ({qc['rounds']} rounds of 50, 31 KiB each)", "",
            "| uploads charged to | uploads/s | p50 | p99 |", "|---|---|---|---|",
            f"| one user (one quota row) | {qc['one_user']['per_s']} | {qc['one_user']['p50_ms']} ms | {qc['one_user']['p99_ms']} ms |",
            f"| 50 users (50 rows) | {qc['fifty_users']['per_s']} | {qc['fifty_users']['p50_ms']} ms | {qc['fifty_users']['p99_ms']} ms |", "",
            f"One row ÷ 50 rows: throughput **{qc['one_vs_fifty_throughput']}**, p99 **{qc['one_vs_fifty_p99']}** "
            "(1.0: the shared row costs nothing)."]
    ing = r["ingestion"]
    out += ["", "## Ingestion (real multi-page PDFs, `local` classifier, WORKER_CONCURRENCY=2)", "",
            "| workers | documents (pages) | all uploaded | all processed | documents/s | failed |", "|---|---|---|---|---|---|"]
    for name, row in ing["runs"].items():
        out.append(f"| {name} | {row['documents']} ({row['pages']}) | {row['uploads_done_s']} s | "
                   f"{row['all_processed_s']} s | {row['documents_per_s']} | {row['failed']} |")
    out += ["", f"2 workers / 1 worker = **{ing['two_vs_one_worker']}**. One job (fetch, extract, classify, write) "
            f"takes {ing['job_mean_ms']} ms on average; `pdftotext` alone on the same files {ing['pdftotext_mean_ms']} ms "
            f"→ job / pdftotext = **{ing['job_vs_pdftotext']}**."]
    if "ocr" in r:
        o = r["ocr"]
        out += ["", f"## OCR ({o['pages']} scanned pages: 200 dpi grey PNGs of real invoices, `tesseract` with eng+deu, WORKER_CONCURRENCY=1)", "",
                f"{o['pages_per_s']} pages/s through the worker ({o['wall_s']} s from the first upload to the last result). "
                f"One job {o['job_mean_s']} s on average; `tesseract` alone on the same file {o['tesseract_mean_s']} s "
                f"→ job / tesseract = **{o['job_vs_tesseract']}** (one job at a time, as tesseract alone ran). "
                f"Character error rate against the pages' own text: **{o['cer']:.2%}**."]
    fp = r["footprint"]
    out += ["", "## Footprint (RSS)", "", "| process | after start | after the ingestion run |", "|---|---|---|",
            f"| `docuvault serve` | {fp['serve_after_start_mib']} MiB | {fp['serve_after_ingestion_mib']} MiB |",
            f"| `docuvault worker` | {fp['worker_after_start_mib']} MiB | {fp['worker_after_ingestion_mib']} MiB |", "",
            ("The worker holds the local classifier's embedding model (all-MiniLM-L6-v2, 87 MiB of float32 weights), "
             f"loaded in {fp['model_load_ms']} ms." if "model_load_ms" in fp else
             "The worker ran without the embedding model (no MODEL_DIR): the lexical classifier.")]
    web = r["web"]
    out += ["", "## Web app (Chromium, a user with 1,000 documents)", "",
            f"JavaScript + CSS for the sign-in page and then the document list, fresh browser: "
            f"**{web['first_load_gzip_bytes'] / 1024:.1f} KiB gzip** ({web['first_load_bytes'] / 1024:.1f} KiB transferred as brotli, "
            f"{web['assets']} files; target under 200 KB).", "",
            f"Navigation to `/` until the first document row shows (the app starts, resumes the sign-in, fetches the "
            f"first page of 100): median **{web['render_ms']:.0f} ms**; the same page fetched alone {web['api_ms']:.1f} ms "
            f"→ render / API = **{web['render_vs_api']}**."]
    if "search" in r:
        out += render_search(r["search"])
    mx = r["mixed"]
    out += ["", f"## Sustained mixed load ({mx['seconds']} s, 32 connections: upload, list, read, health in turn)", "",
            f"{mx['requests']:,} requests, {mx['rps']:.0f}/s; errors: **{mx['errors']}**; p50 {mx['p50_ms']:.2f} ms, "
            f"p99 **{mx['p99_ms']:.2f} ms**; panics in the log: {'yes' if mx['panics_in_log'] else 'none'}.", ""]
    return "\n".join(out)


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = {"machine": lib.machine(), "quick": QUICK, "footprint": {}}
    for name, fn in [("upload", upload_throughput), ("cloud", cloud_throughput), ("read", read_latency), ("search", search_latency),
                     ("ocr", ocr_throughput), ("login", login_timing), ("quota", quota_contention), ("web", web_app)]:
        if ONLY and name != ONLY:
            continue
        scratch = lib.Scratch(f"bench_{name}")
        try:
            results[name] = fn(scratch)
        finally:
            scratch.drop()
    if ONLY == "ingestion":
        # The ingestion run alone (with the footprint it measures), printed.
        scratch = lib.Scratch("bench_ingest")
        try:
            results["ingestion"] = ingestion(scratch, results["footprint"])
        finally:
            scratch.drop()
        part = {"machine": results["machine"], "ingestion": results["ingestion"], "footprint": results["footprint"]}
        (RESULTS / "ingestion.json").write_text(json.dumps(part, indent=2) + "\n")
        print(json.dumps(part, indent=2))
        return
    if ONLY:
        # One part alone: printed and kept beside latest.md as <part>.json (search also as
        # search.md).
        print(json.dumps(results[ONLY], indent=2))
        (RESULTS / f"{ONLY}.json").write_text(json.dumps({"machine": results["machine"], ONLY: results[ONLY]}, indent=2) + "\n")
        if ONLY == "search":
            m = results["machine"]
            text = "\n".join([f"# DocuVault search benchmark — {m['date']}", "",
                              f"Machine: {m['cores']} cores, {m['memory_gib']} GiB; commit `{m['commit']}`"
                              + (" (quick run)" if QUICK else "") + ". Reproduce: `make bench` "
                              "(or `bench/run.sh bench --only search`)."] + render_search(results["search"])) + "\n"
            (RESULTS / "search.md").write_text(text)
            print(text)
        return
    scratch = lib.Scratch("bench_ingest")
    try:
        results["ingestion"] = ingestion(scratch, results["footprint"])
        results["mixed"] = mixed_load(scratch)
    finally:
        scratch.drop()
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "latest.md").write_text(render(results))
    print(render(results))


if __name__ == "__main__":
    main()
