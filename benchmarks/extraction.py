"""Extraction benchmark: our page text against ground truth, beside plain
PyMuPDF ``page.get_text()`` and pdfplumber ``extract_text()``, per category,
with pages per second.

    .venv/bin/python benchmarks/extraction.py [--corpus ../shared/corpus/pdfs] [--json out.json]

Ground truth is whatever sits beside a PDF in the corpus: ``*.groundtruth.md``
(or ``_noisy.md``), ``*.groundtruth_layout.txt``, ``*.source.tex`` (LaTeX
markup stripped), the cell texts of ``pymupdf_chinese-tables.groundtruth.json``;
and the text layer of ``misc/olmocr_edgar.pdf`` for its image-only rendering
``scanned/olmocr_edgar_image.pdf``.

Both sides are normalized the same way before scoring: Markdown and LaTeX
syntax removed, Unicode NFKC, lower case, punctuation dropped, whitespace
collapsed; Chinese, Japanese and Korean characters count as one token each.

Scores (0–100, mean over the category's files):
- ``edit``: normalized Levenshtein similarity of the two character strings,
  1 − distance / max(length). Order-sensitive and strict.
- ``order``: F1 of word bigrams (pairs of consecutive words). Interleaved
  columns, a table read across or a header repeated mid-text break bigrams,
  so this measures reading order.
- ``bow``: F1 of the bag of words: what was read, regardless of order.

Speed: every PDF of the corpus that opens is extracted with our extractor;
text-layer pages per second (pages routed ``text`` or ``layout``; the time
spent in the extractor's page loop and document assembly) and seconds per
OCR page are reported separately, beside both baselines' pages per second
over the same files. Then the same as the ingest flow extracts: the
pipeline's extractor (worker processes) on one document at a time and on
``runner.workers`` documents at once, pages over wall time, for the
text-layer files with OCR off and for ``scanned/`` with OCR on.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import time
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

import pymupdf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from pdfrag.config import ExtractSettings, RunnerSettings
from pdfrag.embed.onnx import cpu_count
from pdfrag.errors import PdfragError
from pdfrag.extract.pymupdf import PyMuPDFExtractor
from pdfrag.extract.text import is_cjk

pymupdf.TOOLS.mupdf_display_errors(False)
PASSWORDS = ["1234", "openpassword", "test", "foo"]

# Ground truth ---------------------------------------------------------------


def _strip_markdown(md: str) -> str:
    md = re.sub(r"<!--.*?-->", " ", md, flags=re.DOTALL)
    md = re.sub(r"^\s*\|?\s*:?-{3,}.*$", " ", md, flags=re.MULTILINE)  # table rules
    md = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", md)
    md = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", md)
    return md


def _strip_latex(tex: str) -> str:
    if "\\begin{document}" in tex:
        tex = tex.split("\\begin{document}", 1)[1]
    tex = tex.split("\\end{document}", 1)[0]
    tex = re.sub(r"(?<!\\)%.*", " ", tex)
    tex = re.sub(r"\\(begin|end)\{[^}]*\}(\[[^\]]*\])?(\{[^}]*\})?", " ", tex)
    tex = re.sub(r"\\(label|ref|cite|includegraphics|vspace|hspace|usepackage|documentclass)\*?(\[[^\]]*\])?\{[^}]*\}", " ", tex)
    tex = re.sub(r"\\(maketitle|tableofcontents|newpage|clearpage|centering|noindent|item|hline|\\)", " ", tex)
    tex = re.sub(r"\\[a-zA-Z]+\*?(\[[^\]]*\])?", " ", tex)
    return tex.replace("{", " ").replace("}", " ").replace("$", " ").replace("&", " ")


def ground_truth(pdf: Path) -> str | None:
    stem = pdf.with_suffix("")
    for suffix in (".groundtruth.md", ".groundtruth_noisy.md"):
        p = Path(str(stem) + suffix)
        if p.is_file():
            return _strip_markdown(p.read_text(encoding="utf-8"))
    p = Path(str(stem) + ".groundtruth_layout.txt")
    if p.is_file():
        return p.read_text(encoding="utf-8")
    p = Path(str(stem) + ".source.tex")
    if p.is_file():
        return _strip_latex(p.read_text(encoding="utf-8", errors="replace"))
    p = Path(str(stem) + ".groundtruth.json")
    if p.is_file():
        data = json.loads(p.read_text(encoding="utf-8"))
        if "extracts" in data:  # cell texts of tables
            return " ".join(str(c) for table in data["extracts"] for row in table for c in row if c)
    if pdf.name == "olmocr_edgar_image.pdf":
        twin = pdf.parent.parent / "misc" / "olmocr_edgar.pdf"
        if twin.is_file():
            with pymupdf.open(twin) as d:
                return "\n".join(p.get_text() for p in d)
    return None


# Normalization and scores -----------------------------------------------------

_PUNCT = re.compile(r"[^\w\s]|_", re.UNICODE)


def tokens(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).lower()
    text = _PUNCT.sub(" ", text)
    out: list[str] = []
    for word in text.split():
        if any(is_cjk(ch) for ch in word):
            buf = ""
            for ch in word:
                if is_cjk(ch):
                    if buf:
                        out.append(buf)
                        buf = ""
                    out.append(ch)
                else:
                    buf += ch
            if buf:
                out.append(buf)
        else:
            out.append(word)
    return out


def _f1(a: Counter, b: Counter) -> float:
    if not a and not b:
        return 1.0
    common = sum((a & b).values())
    if not common:
        return 0.0
    p, r = common / max(sum(a.values()), 1), common / max(sum(b.values()), 1)
    return 2 * p * r / (p + r)


def scores(ours: str, truth: str) -> dict[str, float]:
    from rapidfuzz.distance import Levenshtein

    a, b = tokens(ours), tokens(truth)
    sa, sb = " ".join(a), " ".join(b)
    edit = Levenshtein.normalized_similarity(sa, sb)
    order = _f1(Counter(zip(a, a[1:])), Counter(zip(b, b[1:])))
    bow = _f1(Counter(a), Counter(b))
    return {"edit": 100 * edit, "order": 100 * order, "bow": 100 * bow}


# Extractors ------------------------------------------------------------------


def baseline_pymupdf(data: bytes) -> tuple[str, int]:
    try:
        d = pymupdf.open(stream=data, filetype="pdf")
    except Exception:  # noqa: BLE001 - unreadable: nothing extracted
        return "", 0
    if d.needs_pass:
        for pw in PASSWORDS:
            if d.authenticate(pw):
                break
    text = "\n".join(p.get_text() for p in d)
    n = d.page_count
    d.close()
    return text, n


def baseline_pdfplumber(data: bytes) -> tuple[str, int]:
    import pdfplumber

    for pw in [None, *PASSWORDS]:
        try:
            with pdfplumber.open(io.BytesIO(data), password=pw) as pdf:
                return "\n".join((p.extract_text() or "") for p in pdf.pages), len(pdf.pages)
        except Exception:  # noqa: BLE001 - wrong password or unreadable: try the next
            continue
    return "", 0


def pipeline_throughput(pdfs: list[Path], workers: int, ocr: str = "off", count: str = "text_pages") -> tuple[int, float]:
    """Pages (the ``count`` statistic: ``text_pages`` or ``ocr_pages``), and
    wall seconds, extracting ``pdfs`` as the ingest flow does: the
    pipeline's extractor (``get_extractor``: worker processes,
    ``extract.isolate``) on ``workers`` documents at once. Largest files
    first, so that no worker idles at the end while another reads a long
    document."""
    from concurrent.futures import ThreadPoolExecutor

    from pdfrag.config import Settings
    from pdfrag.extract import get_extractor
    from pdfrag.pipeline import extract_settings

    settings = Settings(extract=ExtractSettings(ocr=ocr, passwords=PASSWORDS), runner=RunnerSettings(workers=workers))
    ex = get_extractor(extract_settings(settings))  # as the pipeline makes it: OCR threads shared out among the workers
    datas = sorted(((p.read_bytes(), str(p)) for p in pdfs), key=lambda d: -len(d[0]))

    def one(item: tuple[bytes, str]) -> int:
        try:
            doc = ex.extract(item[0], source=item[1], doc_id="")
        except PdfragError:
            return 0
        return int(doc.stats.get(count, 0))

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, datas[-workers:]))  # start the worker processes outside the timing
        t0 = time.perf_counter()
        pages = sum(pool.map(one, datas))
        return pages, time.perf_counter() - t0


class Ours:
    def __init__(self, **settings) -> None:
        self.ex = PyMuPDFExtractor(ExtractSettings(passwords=PASSWORDS, **settings))
        self.text_pages = self.ocr_pages = 0
        self.text_seconds = self.ocr_seconds = 0.0

    def __call__(self, data: bytes, name: str) -> tuple[str, int]:
        try:
            doc = self.ex.extract(data, source=name, doc_id="")
        except PdfragError:
            return "", 0
        t = doc.stats
        self.text_pages += t.get("text_pages", 0)
        self.ocr_pages += t.get("ocr_pages", 0)
        self.text_seconds += t.get("text_seconds", 0.0)
        self.ocr_seconds += t.get("ocr_seconds", 0.0)
        return "\n\n".join(p.text for p in doc.pages), len(doc.pages)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus" / "pdfs"))
    ap.add_argument("--json", help="write the results as JSON here")
    ap.add_argument("--skip-speed", action="store_true", help="scores only")
    ap.add_argument("--skip-scores", action="store_true", help="speed only")
    args = ap.parse_args()
    corpus = Path(args.corpus)
    pdfs = sorted(p for p in corpus.rglob("*.pdf"))
    ours = Ours()
    warm = next((p for p in pdfs if p.parent.name == "scanned"), pdfs[0])
    ours(warm.read_bytes(), "warm-up")  # load the OCR models outside the timings
    ours.text_pages = ours.ocr_pages = 0
    ours.text_seconds = ours.ocr_seconds = 0.0
    methods = {"pdfrag": lambda d, n: ours(d, n), "pymupdf": lambda d, n: baseline_pymupdf(d), "pdfplumber": lambda d, n: baseline_pdfplumber(d)}

    per_cat: dict[str, dict[str, list[dict[str, float]]]] = defaultdict(lambda: defaultdict(list))
    per_file = []
    for pdf in pdfs:
        truth = None if args.skip_scores else ground_truth(pdf)
        if truth is None:
            continue
        data = pdf.read_bytes()
        row = {"file": str(pdf.relative_to(corpus)), "category": pdf.parent.name}
        for name, fn in methods.items():
            text, _ = fn(data, str(pdf))
            s = scores(text, truth)
            per_cat[pdf.parent.name][name].append(s)
            row[name] = {k: round(v, 1) for k, v in s.items()}
        per_file.append(row)
        print(f"{row['file']:<58} " + "  ".join(f"{m}: {row[m]['edit']:5.1f}/{row[m]['order']:5.1f}/{row[m]['bow']:5.1f}" for m in methods), file=sys.stderr)

    print("\n## Text scores against ground truth (mean %, edit / order / bow)\n")
    print("| category | files | pdfrag edit | order | bow | PyMuPDF edit | order | bow | pdfplumber edit | order | bow |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    table = {}
    for cat in sorted(per_cat):
        cells = []
        table[cat] = {}
        for m in methods:
            rows = per_cat[cat][m]
            mean = {k: sum(r[k] for r in rows) / len(rows) for k in ("edit", "order", "bow")}
            table[cat][m] = mean
            cells += [f"{mean['edit']:.1f}", f"{mean['order']:.1f}", f"{mean['bow']:.1f}"]
        print(f"| {cat} | {len(per_cat[cat]['pdfrag'])} | " + " | ".join(cells) + " |")

    speed = {}
    if not args.skip_speed:
        # Text-layer speed: every PDF of the corpus, our extractor with OCR off
        # beside both baselines on the same files; pages routed to OCR are
        # excluded from our count (their time is measured below).
        text_only = Ours(ocr="off")
        totals = {m: [0, 0.0] for m in ("pymupdf", "pdfplumber")}
        for pdf in pdfs:
            data = pdf.read_bytes()
            text_only(data, str(pdf))
            for name in totals:
                t0 = time.perf_counter()
                _, n = methods[name](data, str(pdf))
                totals[name][0] += n
                totals[name][1] += time.perf_counter() - t0
        # OCR speed: the scanned category, OCR on.
        ocr = Ours()
        for pdf in pdfs:
            if pdf.parent.name == "scanned":
                ocr(pdf.read_bytes(), str(pdf))
        # Throughput as the ingest extracts (worker processes, documents in
        # parallel): the text-layer files (not scanned/), one worker and then
        # the pipeline's default number.
        layer_pdfs = [p for p in pdfs if p.parent.name != "scanned"]
        workers = RunnerSettings().workers
        concurrent = {n: pipeline_throughput(layer_pdfs, n) for n in sorted({1, workers})}
        scanned = [p for p in pdfs if p.parent.name == "scanned"]
        concurrent_ocr = {n: pipeline_throughput(scanned, n, ocr="auto", count="ocr_pages") for n in sorted({1, workers})}
        speed = {
            **{f"pipeline_{n}_workers_pages_per_s": (pg / s if s else 0.0) for n, (pg, s) in concurrent.items()},
            **{f"pipeline_{n}_workers_ocr_s_per_page": (s / pg if pg else 0.0) for n, (pg, s) in concurrent_ocr.items()},
            "cores": cpu_count(),
            "pdfrag_text_pages_per_s": text_only.text_pages / text_only.text_seconds if text_only.text_seconds else 0.0,
            "pdfrag_text_pages": text_only.text_pages,
            "pdfrag_ocr_s_per_page": ocr.ocr_seconds / ocr.ocr_pages if ocr.ocr_pages else 0.0,
            "pdfrag_ocr_pages": ocr.ocr_pages,
            **{f"{m}_pages_per_s": (n / s if s else 0.0) for m, (n, s) in totals.items()},
            **{f"{m}_pages": n for m, (n, _) in totals.items()},
        }
        print(f"\n## Speed over the {len(pdfs)} PDFs of the corpus\n")
        print("| extractor | pages | pages/s |")
        print("|---|---:|---:|")
        print(f"| pdfrag, text-layer pages (text + layout routes, tables included) | {text_only.text_pages} | {speed['pdfrag_text_pages_per_s']:.1f} |")
        for n, (pg, secs) in concurrent.items():
            print(f"| pdfrag as the ingest extracts: worker processes, {n} document{'s' if n > 1 else ''} at once, OCR off, text-layer files | {pg} | {pg / secs if secs else 0:.1f} |")
        for m in totals:
            print(f"| {m} (every page) | {totals[m][0]} | {speed[f'{m}_pages_per_s']:.1f} |")
        for n, (pg, secs) in concurrent_ocr.items():
            print(f"| pdfrag as the ingest extracts: OCR pages (scanned/), {n} document{'s' if n > 1 else ''} at once | {pg} | {pg / secs if secs else 0:.2f} ({secs / pg if pg else 0:.2f} s/page) |")
        print(f"| pdfrag, OCR pages (scanned/) | {ocr.ocr_pages} | {1 / speed['pdfrag_ocr_s_per_page'] if speed['pdfrag_ocr_s_per_page'] else 0:.2f} ({speed['pdfrag_ocr_s_per_page']:.2f} s/page) |")
    if args.json:
        Path(args.json).write_text(json.dumps({"categories": table, "files": per_file, "speed": speed}, indent=2))


if __name__ == "__main__":
    main()
