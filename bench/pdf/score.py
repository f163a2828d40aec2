"""Grades extracted texts against make_pdfs.py's ground truth: the share of the true sentences
found verbatim (after joining lines and collapsing white space) — a sentence cut by a column
mixed into another, a lost or mangled character all count as misses.

Usage: python score.py TRUTH_DIR TEXT_DIR EXTRACTOR [EXTRACTOR...]
"""

import re
import sys
from pathlib import Path


def norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def main() -> None:
    truth_dir, text_dir, extractors = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    print("| file | " + " | ".join(extractors) + " |")
    print("|---|" + "---|" * len(extractors))
    for truth in sorted(truth_dir.glob("*.txt")):
        sentences = [norm(l) for l in truth.read_text(encoding="utf-8").splitlines() if l.strip()]
        cells = []
        for ex in extractors:
            path = text_dir / f"{truth.stem}.{ex}.txt"
            text = norm(path.read_text(encoding="utf-8", errors="replace")) if path.exists() else ""
            found = sum(1 for s in sentences if s in text)
            cells.append(f"{found}/{len(sentences)} ({100 * found / len(sentences):.0f} %)")
        print(f"| {truth.stem} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
