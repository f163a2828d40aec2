"""Writes test PDFs with fpdf2 (a real PDF writer, from PyPI) and, beside each, the sentences
it holds (`NAME.txt`, one per line) as the ground truth for extraction quality:

  columns.pdf       3 pages set in two columns, each column drawn in turn
  interleaved.pdf   2 pages in two columns drawn line by line across both (as some word
                    processors write them: reading order must come from the layout)
  multilingual.pdf  German, French, Polish, Greek and Russian text (DejaVu Sans, embedded)
  large.pdf         300 pages of running text
  truncated.pdf     large.pdf cut in half; scrambled.pdf: columns.pdf with 200 bytes
                    overwritten (no ground truth: they must fail cleanly)
  invoice-NNN.pdf   with --many N: N short multi-page documents of varied text

Usage: python make_pdfs.py OUT_DIR [--many N]
Needs: pip install fpdf2==2.8.9; Debian's fonts-dejavu-core.
"""

import random
import sys
from pathlib import Path

from fpdf import FPDF

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

SUBJECTS = ["The invoice", "Our bank statement", "The tax office", "The hospital", "Your doctor",
            "The insurance company", "The landlord", "The school", "The airline", "The pharmacy",
            "The employer", "The city council", "The energy supplier", "The notary"]
VERBS = ["confirms", "requests", "reports", "lists", "reminds you of", "describes", "records",
         "announces", "corrects", "summarises"]
OBJECTS = ["the payment of {n} euros", "an appointment on day {n}", "the balance of account {n}",
           "the prescription number {n}", "a refund of {n} euros", "the contract number {n}",
           "the meter reading {n}", "the booking reference {n}", "the premium for year {n}",
           "a deadline in {n} days"]
TAILS = ["for the current quarter", "as agreed in writing", "without further notice",
         "according to the enclosed table", "before the end of the month", "for your records",
         "with the usual conditions", "after the last review"]

MULTILINGUAL = [
    "Sehr geehrte Damen und Herren, die Rechnung über 1.250,00 € ist am Freitag fällig.",
    "Die Krankenkasse erstattet die Behandlungskosten für Ärzte und Zahnärzte.",
    "Größere Beträge überweisen Sie bitte auf das Konto bei der Sparkasse Köln.",
    "Madame, Monsieur, veuillez trouver ci-joint la facture de décembre réglée à l'échéance.",
    "Le médecin a prescrit un traitement de quinze jours après l'opération.",
    "Szanowni Państwo, faktura za energię elektryczną wynosi 312,45 zł brutto.",
    "Prosimy o płatność przelewem na rachunek bankowy w ciągu czternastu dni.",
    "Αγαπητέ πελάτη, ο λογαριασμός ρεύματος για τον Μάρτιο είναι 84,20 ευρώ.",
    "Η ιατρική εξέταση έχει προγραμματιστεί για την Πέμπτη στις δέκα το πρωί.",
    "Уважаемый клиент, счёт за электроэнергию за март составляет 2 480 рублей.",
    "Врач назначил лечение на две недели и повторный приём в пятницу.",
    "Налоговая декларация должна быть подана до тридцатого апреля.",
]


def sentence(rng: random.Random) -> str:
    obj = rng.choice(OBJECTS).format(n=rng.randint(2, 9999))
    return f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {obj} {rng.choice(TAILS)}."


def new_pdf() -> FPDF:
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_font("DejaVu", fname=FONT)
    pdf.set_font("DejaVu", size=10)
    return pdf


def paragraphs(rng: random.Random, count: int, per: int) -> list[list[str]]:
    return [[sentence(rng) for _ in range(per)] for _ in range(count)]


def write(out: Path, name: str, pdf: FPDF, sentences: list[str]) -> None:
    pdf.output(str(out / f"{name}.pdf"))
    (out / f"{name}.txt").write_text("\n".join(sentences) + "\n", encoding="utf-8")


def columns(out: Path, rng: random.Random) -> None:
    pdf = new_pdf()
    truth = []
    for _ in range(3):
        pdf.add_page()
        paras = paragraphs(rng, 6, 4)
        with pdf.text_columns(ncols=2, gutter=8, text_align="LEFT") as cols:
            for p in paras:
                cols.write(text=" ".join(p) + "\n\n")
                truth.extend(p)
            cols.new_column()
    write(out, "columns", pdf, truth)


def wrap(pdf: FPDF, text: str, width: float) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if pdf.get_string_width(candidate) > width and line:
            lines.append(line)
            line = word
        else:
            line = candidate
    return lines + [line] if line else lines


def interleaved(out: Path, rng: random.Random) -> None:
    pdf = new_pdf()
    truth = []
    width = (210 - 2 * 15 - 10) / 2
    for _ in range(2):
        pdf.add_page()
        columns = []
        for _ in range(2):
            sentences = [sentence(rng) for _ in range(12)]
            truth.extend(sentences)
            columns.append(wrap(pdf, " ".join(sentences), width))
        for i in range(max(len(c) for c in columns)):
            for c, column in enumerate(columns):
                if i < len(column):
                    pdf.text(15 + c * (width + 10), 25 + i * 5, column[i])
    write(out, "interleaved", pdf, truth)


def multilingual(out: Path) -> None:
    pdf = new_pdf()
    pdf.add_page()
    for s in MULTILINGUAL:
        pdf.multi_cell(0, 6, s, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    write(out, "multilingual", pdf, MULTILINGUAL)


def running(out: Path, name: str, rng: random.Random, pages: int) -> None:
    pdf = new_pdf()
    truth = []
    pdf.add_page()
    while pdf.page < pages:
        p = [sentence(rng) for _ in range(5)]
        truth.extend(p)
        pdf.multi_cell(0, 5, " ".join(p), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
    write(out, name, pdf, truth)


def damaged(out: Path) -> None:
    large = (out / "large.pdf").read_bytes()
    (out / "truncated.pdf").write_bytes(large[: len(large) // 2])
    columns = bytearray((out / "columns.pdf").read_bytes())
    rng = random.Random(1)
    for _ in range(200):
        columns[rng.randrange(300, len(columns))] = rng.randrange(256)
    (out / "scrambled.pdf").write_bytes(bytes(columns))


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20261123)
    if "--many" in sys.argv:
        n = int(sys.argv[sys.argv.index("--many") + 1])
        for i in range(n):
            running(out, f"invoice-{i:03}", rng, rng.randint(2, 5))
        return
    columns(out, rng)
    interleaved(out, rng)
    multilingual(out)
    running(out, "large", rng, 300)
    damaged(out)


if __name__ == "__main__":
    main()
