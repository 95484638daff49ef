"""Render the Chinese retrieval set's source texts as PDFs.

    .venv/bin/python benchmarks/retrieval_make_zh.py

Reads ``benchmarks/data/retrieval/zh/source/NAME.txt`` (first line: title;
paragraphs separated by blank lines) and writes
``benchmarks/data/retrieval/zh/pdfs/NAME.pdf``: A5 pages, 13 pt text in
MuPDF's built-in CJK font, one to two pages each. The PDFs are committed; run
this again only after editing a source text. Each PDF is checked to give its
text back through PyMuPDF.
"""

from __future__ import annotations

import html
import sys
from pathlib import Path

import pymupdf

HERE = Path(__file__).resolve().parent / "data" / "retrieval" / "zh"
PAGE = pymupdf.paper_rect("a5")
MARGIN = 42
CSS = "body {font-family: sans-serif; font-size: 13pt; line-height: 1.55;} h1 {font-size: 17pt; margin-bottom: 10pt;} p {margin: 0 0 8pt 0; text-indent: 2em;}"


def render(src: Path, out: Path) -> int:
    title, _, body = src.read_text(encoding="utf-8").strip().partition("\n")
    paras = [p.strip().replace("\n", "") for p in body.split("\n\n") if p.strip()]
    doc_html = f"<h1>{html.escape(title.strip())}</h1>" + "".join(f"<p>{html.escape(p)}</p>" for p in paras)
    story = pymupdf.Story(html=doc_html, user_css=CSS)
    writer = pymupdf.DocumentWriter(str(out))
    where = PAGE + (MARGIN, MARGIN, -MARGIN, -MARGIN)
    pages = 0
    more = True
    while more:
        dev = writer.begin_page(PAGE)
        more, _ = story.place(where)
        story.draw(dev)
        writer.end_page()
        pages += 1
    writer.close()
    # Keep only the glyphs used: the fallback CJK font is several MB whole.
    with pymupdf.open(out) as doc:
        doc.subset_fonts()
        doc.set_metadata({"title": title.strip(), "creator": "pdfrag benchmarks/retrieval_make_zh.py"})
        data = doc.tobytes(garbage=4, deflate=True)
    out.write_bytes(data)
    with pymupdf.open(out) as doc:
        got = "".join(p.get_text() for p in doc).replace("\n", "")
    missing = [p[:20] for p in paras if p[:20] not in got]
    if missing:
        raise SystemExit(f"{out}: text does not come back from the PDF: {missing}")
    return pages


def main() -> int:
    (HERE / "pdfs").mkdir(exist_ok=True)
    for src in sorted((HERE / "source").glob("*.txt")):
        out = HERE / "pdfs" / f"{src.stem}.pdf"
        n = render(src, out)
        print(f"{out.relative_to(HERE.parents[3])}: {n} page(s), {out.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
