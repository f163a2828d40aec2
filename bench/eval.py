"""`make eval`: how well the local classifier sorts real documents it has never seen, zero-shot
and after 5 corrections per topic, beside the lexical classifier and a paperless-ngx-style
baseline (scikit-learn CountVectorizer(ngram_range=(1, 2), min_df=0.01) + MLPClassifier trained
on 20 %), all in the same run, in English and in German. Writes bench/results/eval.md.

Corpus: the long descriptions of Debian 12 ("bookworm") packages, labelled by the archive
section the package is filed in — real text, written by Debian's maintainers (English) and the
Debian Description Translation Project's translators (German), nobody on this team. They are
downloaded from deb.debian.org (Packages.xz, Translation-en.xz, Translation-de.bz2) into
.stack/eval and never committed; each description is covered by its package's free licence
(the DDTP translations are published under the same terms as the packages). Eight sections a
person would recognise as topics; packages whose names mark libraries, data or documentation
are left out, and descriptions shorter than 40 words. For each topic and language the first
50 descriptions in a fixed order (SHA-1 of the package name) are taken: the first 10 are the
baseline's 20 % training set, 5 of which are the corrections; the other 40 are the test set
every classifier is scored on.

The topic descriptions below were written once, before the first measurement, and are kept
fixed. The product runs end to end: a scratch database, `docuvault serve` and `docuvault
worker` (release build) with the model the stack installed, uploads through the API, and the
topics read back. The semantic runs set CLASSIFY_MIN_MARGIN=1 so that every document keeps its
top three topics and their scores as suggestions; the thresholds (CLASSIFY_MIN_SCORE,
CLASSIFY_MIN_MARGIN) are then applied to those scores exactly as the worker does
(pipeline::semantic::decide), for the defaults and for a grid.
"""

from __future__ import annotations

import bz2
import hashlib
import json
import lzma
import re
import subprocess
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import lib

CACHE = lib.ROOT / ".stack" / "eval"
RESULTS = lib.ROOT / "bench" / "results"
PORT = 18093
MIRROR = "http://deb.debian.org/debian/dists/bookworm/main"
PER_TOPIC = 50
TRAIN = 10  # 20 %
CORRECTIONS = 5
# The worker's defaults (CLASSIFY_MIN_SCORE, CLASSIFY_MIN_MARGIN in crates/core/src/config.rs;
# keep in step), applied to the recorded scores.
DEFAULT_MIN_SCORE = 0.1
DEFAULT_MIN_MARGIN = 0.02

TOPICS = {
    "games": ("Games", "games and entertainment: puzzles, strategy, arcade, board and card games",
              "Spiele", "Spiele und Unterhaltung: Rätsel, Strategie, Arcade, Brett- und Kartenspiele"),
    "sound": ("Audio", "sound and music: audio players, recording, mixing, synthesizers, audio formats",
              "Audio", "Klang und Musik: Audio-Player, Aufnahme, Mischen, Synthesizer, Audioformate"),
    "graphics": ("Graphics", "images and drawing: image viewers and editors, photos, 3D modelling, vector graphics",
                 "Grafik", "Bilder und Zeichnen: Bildbetrachter und -bearbeitung, Fotos, 3D-Modellierung, Vektorgrafik"),
    "mail": ("Email", "e-mail: mail clients, mail servers, spam filtering, mailing lists",
             "E-Mail", "E-Mail: Mailprogramme, Mailserver, Spamfilter, Mailinglisten"),
    "video": ("Video", "video and film: video players, video editing, streaming, TV, webcams, subtitles",
              "Video", "Video und Film: Videoplayer, Videobearbeitung, Streaming, Fernsehen, Webcams, Untertitel"),
    "math": ("Mathematics", "mathematics: algebra, calculators, numerical computation, statistics, plotting",
             "Mathematik", "Mathematik: Algebra, Taschenrechner, numerische Berechnungen, Statistik, Funktionsgraphen"),
    "fonts": ("Fonts", "fonts and typefaces: TrueType and OpenType fonts, glyphs for writing systems",
              "Schriften", "Schriftarten: TrueType- und OpenType-Schriften, Zeichen für Schriftsysteme"),
    "editors": ("Text editors", "text editors for plain text and source code, vi and Emacs style editors",
                "Texteditoren", "Texteditoren für reinen Text und Quellcode, Editoren im Stil von vi und Emacs"),
}
SKIP = re.compile(r"^lib|-(dev|doc|data|common|dbg|l10n|locales?|i18n)$")


def log(msg: str) -> None:
    print(f"[eval] {msg}", flush=True)


def fetch(name: str) -> bytes:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / name.replace("/", "_")
    if not path.exists():
        log(f"downloading {MIRROR}/{name}")
        with urllib.request.urlopen(f"{MIRROR}/{name}", timeout=120) as r:
            path.write_bytes(r.read())
    return path.read_bytes()


def records(text: str):
    for block in text.split("\n\n"):
        rec, key = {}, None
        for line in block.split("\n"):
            if line.startswith(" ") and key:
                rec[key] += "\n" + line
            elif ":" in line:
                key, _, value = line.partition(":")
                rec[key] = value.strip()
        if rec:
            yield rec


def plain(description: str) -> str:
    """A package description as prose: the synopsis line, then the paragraphs ('.' lines are
    paragraph breaks)."""
    lines = [l.strip() for l in description.split("\n")]
    return "\n".join("" if l == "." else l for l in lines).strip()


def corpus() -> dict[str, dict[str, list[tuple[str, str]]]]:
    """{lang: {section: [(package, text), ...]}} in the fixed order."""
    packages = {r["Package"]: r for r in records(lzma.decompress(fetch("binary-amd64/Packages.xz")).decode())}
    texts = {
        "en": {r["Description-md5"]: r["Description-en"] for r in records(lzma.decompress(fetch("i18n/Translation-en.xz")).decode())
               if "Description-en" in r},
        "de": {r["Description-md5"]: r["Description-de"] for r in records(bz2.decompress(fetch("i18n/Translation-de.bz2")).decode())
               if "Description-de" in r},
    }
    out = {lang: {s: [] for s in TOPICS} for lang in texts}
    for name in sorted(packages, key=lambda n: hashlib.sha1(n.encode()).hexdigest()):
        rec = packages[name]
        section = rec.get("Section", "").split("/")[-1]
        if section not in TOPICS or SKIP.search(name):
            continue
        for lang, by_md5 in texts.items():
            text = by_md5.get(rec.get("Description-md5", ""))
            if text and len(text.split()) >= 40 and len(out[lang][section]) < PER_TOPIC:
                out[lang][section].append((name, plain(text)))
    return out


def product_run(lang: str, split: dict, variant: str) -> dict:
    """Uploads the test set (and for `corrections`, corrects 5 per topic first) and returns
    {package: [(section, score), ...] best first} (semantic) or {package: [section, ...]}."""
    scratch = lib.Scratch(f"eval_{lang}_{variant.replace('-', '_')}")
    extra = {"WORKER_CONCURRENCY": "2"}
    if variant == "lexical":
        extra["MODEL_DIR"] = str(CACHE / "no-model")
    else:
        extra["CLASSIFY_MIN_MARGIN"] = "1"
    api = lib.serve(scratch.env, CACHE / f"{lang}-{variant}-serve.log", PORT, extra)
    worker = lib.Process(["worker"], scratch.env, CACHE / f"{lang}-{variant}-worker.log", extra)
    base = f"http://127.0.0.1:{PORT}"
    try:
        topic_ids = {}
        for section, (en_name, en_desc, de_name, de_desc) in TOPICS.items():
            name, desc = (en_name, en_desc) if lang == "en" else (de_name, de_desc)
            status, body = lib.http("POST", f"{base}/api/topics", {"name": name, "description": desc})
            assert status == 201, body
            topic_ids[section] = body["id"]
        by_id = {v: k for k, v in topic_ids.items()}

        def upload_all(docs: list[tuple[str, str, str]]) -> dict[str, str]:
            with tempfile.TemporaryDirectory() as tmp:
                paths = []
                for section, name, text in docs:
                    path = Path(tmp) / f"{name}.txt"
                    path.write_text(text)
                    paths.append((name, path))
                with ThreadPoolExecutor(8) as pool:
                    answers = list(pool.map(lambda np: (np[0], lib.upload(PORT, np[1])), paths))
            ids = {}
            for name, (status, body) in answers:
                assert status == 201, (name, status, body)
                ids[name] = body["id"]
            return ids

        def wait_done(count_sql: str) -> None:
            lib.wait_until(lambda: scratch.psql(count_sql) == "0", 1800, "the worker to finish", every=0.5)

        pending = "SELECT count(*) FROM documents WHERE status IN ('pending', 'processing')"
        test_ids = upload_all(split["test"])
        started = time.monotonic()
        wait_done(pending)
        seconds = time.monotonic() - started
        if variant == "corrections":
            examples = upload_all(split["corrections"])
            wait_done(pending)
            truth = {name: section for section, name, _ in split["corrections"]}
            for name, doc_id in examples.items():
                status, body = lib.http("PATCH", f"{base}/api/documents/{doc_id}", {"topic_ids": [topic_ids[truth[name]]]})
                assert status == 200, body
            status, body = lib.http("POST", f"{base}/api/documents/reclassify-unconfirmed", {})
            assert status == 202 and body["queued"] == len(test_ids), body
            # The sweeper queues them within a few seconds.
            lib.wait_until(lambda: scratch.psql(pending) != "0", 30, "the reclassification to start")
            wait_done(pending)
        out = {}
        for name, doc_id in test_ids.items():
            status, doc = lib.http("GET", f"{base}/api/documents/{doc_id}")
            assert status == 200 and doc["status"] == "classified", doc
            if variant == "lexical":
                out[name] = [by_id[t["id"]] for t in doc["topics"]]
            else:
                out[name] = [(by_id[t["id"]], t["score"]) for t in doc["suggestions"]]
        return {"predictions": out, "seconds": round(seconds, 1), "documents": len(test_ids)}
    finally:
        worker.stop()
        api.stop()
        scratch.drop()


def decide(top: list[tuple[str, float]], min_score: float, min_margin: float) -> str | None:
    """pipeline::semantic::decide on recorded scores."""
    if not top:
        return None
    best = top[0]
    runner_up = top[1][1] if len(top) > 1 else float("-inf")
    return best[0] if best[1] >= min_score and best[1] - runner_up >= min_margin else None


def scores(truth: dict[str, str], predicted: dict[str, str | None]) -> dict:
    """Accuracy (no topic counts as wrong), coverage, precision of what was assigned, and
    macro-F1 over the topics."""
    n = len(truth)
    right = sum(predicted.get(k) == v for k, v in truth.items())
    assigned = sum(predicted.get(k) is not None for k in truth)
    f1s = []
    for section in TOPICS:
        tp = sum(predicted.get(k) == section and v == section for k, v in truth.items())
        fp = sum(predicted.get(k) == section and v != section for k, v in truth.items())
        fn = sum(v == section and predicted.get(k) != section for k, v in truth.items())
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return {"accuracy": round(right / n, 3), "coverage": round(assigned / n, 3),
            "precision": round(right / assigned, 3) if assigned else None,
            "macro_f1": round(sum(f1s) / len(f1s), 3)}


def baseline(split: dict) -> dict[str, str]:
    """paperless-ngx's classifier, as it trains: CountVectorizer(ngram_range=(1, 2),
    min_df=0.01) + MLPClassifier, on the 20 % training set; run in the stack's venv."""
    script = """
import json, sys
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.neural_network import MLPClassifier
data = json.load(sys.stdin)
vec = CountVectorizer(ngram_range=(1, 2), min_df=0.01)
x = vec.fit_transform([t for _, t in data["train"]])
clf = MLPClassifier(random_state=0, max_iter=1000).fit(x, [s for s, _ in data["train"]])
print(json.dumps(list(clf.predict(vec.transform([t for _, t in data["test"]])))))
"""
    data = {"train": [(s, t) for s, _, t in split["train"]], "test": [(s, t) for s, _, t in split["test"]]}
    out = subprocess.run([str(lib.ROOT / ".stack" / "venv" / "bin" / "python"), "-c", script],
                         input=json.dumps(data), capture_output=True, text=True, check=True)
    return {name: p for (_, name, _), p in zip(split["test"], json.loads(out.stdout))}


def main() -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = corpus()
    report = {"machine": lib.machine(), "languages": {}}
    for lang in ("en", "de"):
        split = {"train": [], "corrections": [], "test": []}
        for section, docs in data[lang].items():
            assert len(docs) == PER_TOPIC, f"{lang}/{section}: only {len(docs)} descriptions"
            for i, (name, text) in enumerate(docs):
                row = (section, name, text)
                if i < TRAIN:
                    split["train"].append(row)
                    if i < CORRECTIONS:
                        split["corrections"].append(row)
                else:
                    split["test"].append(row)
        truth = {name: section for section, name, _ in split["test"]}
        log(f"{lang}: {len(split['test'])} test documents, {len(TOPICS)} topics")
        runs = {v: product_run(lang, split, v) for v in ("zero-shot", "corrections", "lexical")}
        result = {"test_documents": len(truth), "words_mean": round(sum(len(t.split()) for _, _, t in split["test"]) / len(truth))}
        for variant in ("zero-shot", "corrections"):
            preds = runs[variant]["predictions"]
            top1 = {k: (v[0][0] if v else None) for k, v in preds.items()}
            grid = {f"{ms:.2f}/{mg:.2f}": scores(truth, {k: decide(v, ms, mg) for k, v in preds.items()})
                    for ms in (0.0, 0.1, 0.15, 0.2, 0.25, 0.3) for mg in (0.0, 0.01, 0.02, 0.03, 0.05, 0.08)}
            result[variant] = {"best_first": scores(truth, top1), "grid": grid,
                               "seconds": runs[variant]["seconds"], "documents": runs[variant]["documents"]}
            result[variant]["defaults"] = scores(truth, {k: decide(v, DEFAULT_MIN_SCORE, DEFAULT_MIN_MARGIN) for k, v in preds.items()})
        lex = runs["lexical"]["predictions"]
        result["lexical"] = {
            "exactly_right": scores(truth, {k: (v[0] if len(v) == 1 else None) for k, v in lex.items()}),
            "no_topic": round(sum(not v for v in lex.values()) / len(lex), 3),
            "right_among_answers": round(sum(truth[k] in v for k, v in lex.items()) / len(lex), 3),
        }
        result["baseline"] = scores(truth, baseline(split))
        report["languages"][lang] = result
        log(f"{lang}: {json.dumps({k: v for k, v in result.items() if k not in ('zero-shot', 'corrections')})}")
        log(f"{lang}: zero-shot best first {result['zero-shot']['best_first']}, corrections {result['corrections']['best_first']}")
    (RESULTS / "eval.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "eval.md").write_text(render(report))
    print(render(report))


def render(r: dict) -> str:
    m = r["machine"]
    out = [f"# DocuVault classifier evaluation — {m['date']}", "",
           f"Machine: {m['cores']} cores; commit `{m['commit']}`. Reproduce: `make eval`. Corpus and method: "
           "the docstring of bench/eval.py (Debian 12 package descriptions labelled by archive section, "
           "8 topics, 40 test documents per topic and language; the same test set for every classifier).", ""]
    for lang, res in r["languages"].items():
        out += [f"## {'English' if lang == 'en' else 'German'} ({res['test_documents']} test documents, {res['words_mean']} words on average)", "",
                "| classifier | accuracy | macro-F1 | documents given a topic | precision of those |", "|---|---|---|---|---|"]

        def row(name: str, s: dict) -> str:
            prec = "–" if s["precision"] is None else f"{s['precision']:.3f}"
            return f"| {name} | **{s['accuracy']:.3f}** | {s['macro_f1']:.3f} | {s['coverage']:.3f} | {prec} |"
        out.append(row("semantic, zero-shot, best topic always", res["zero-shot"]["best_first"]))
        out.append(row("semantic, 5 corrections per topic, best topic always", res["corrections"]["best_first"]))
        out.append(row(f"semantic, zero-shot, default thresholds ({DEFAULT_MIN_SCORE} / {DEFAULT_MIN_MARGIN})", res["zero-shot"]["defaults"]))
        out.append(row("semantic, 5 corrections, default thresholds", res["corrections"]["defaults"]))
        out.append(row("lexical (the fallback), exactly the right topic", res["lexical"]["exactly_right"]))
        out.append(row("paperless-ngx-style baseline (CountVectorizer + MLP, trained on 20 %)", res["baseline"]))
        out += ["", f"Lexical: no topic for {res['lexical']['no_topic']:.0%} of documents, the right one among its answers for "
                f"{res['lexical']['right_among_answers']:.0%}. Semantic runs: {res['zero-shot']['documents']} documents classified in "
                f"{res['zero-shot']['seconds']} s (upload to last result, one worker, 2 jobs at once).", "",
                "Thresholds (min score / min margin) on the zero-shot scores → accuracy, coverage, precision:", "",
                "| min score \\ min margin | " + " | ".join(sorted({k.split('/')[1] for k in res["zero-shot"]["grid"]})) + " |",
                "|---" * 7 + "|"]
        for ms in sorted({k.split("/")[0] for k in res["zero-shot"]["grid"]}):
            cells = []
            for mg in sorted({k.split("/")[1] for k in res["zero-shot"]["grid"]}):
                s = res["zero-shot"]["grid"][f"{ms}/{mg}"]
                cells.append(f"{s['accuracy']:.2f} / {s['coverage']:.2f} / {s['precision'] or 0:.2f}")
            out.append(f"| {ms} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
