"""Tables on text-layer pages: detect ruled tables, keep rows and header,
render Markdown.

Detection runs only where the page's vector graphics could form a grid
(enough horizontal and vertical rules, or cell rectangles), so prose pages
stay fast. Cells are found and read with pdfplumber's ``lines`` strategy,
which is exact on ruled tables in English and Chinese and about ten times
faster than PyMuPDF's ``find_tables`` here; pdfplumber opens the PDF once
per document, and only when a page needs it. Cell text comes from
PyMuPDF's words inside each cell box (pdfplumber's own cell text is in
visual order, which reverses right-to-left scripts). Pages with a /Rotate are left
as text (pdfplumber reads them unrotated).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pymupdf

from pdfrag.extract.text import is_rtl, join_lines
from pdfrag.types import BBox, Table


@dataclass(frozen=True)
class TableConfig:
    enabled: bool = True
    min_rules: int = 3  # horizontal rules needed before looking for a grid
    min_rows: int = 2
    min_cols: int = 2
    min_fill: float = 0.4  # share of non-empty cells


def _rules(page: pymupdf.Page) -> tuple[int, int]:
    """Counts of horizontal and vertical segments among the page's drawings."""
    h = v = 0
    for path in page.get_cdrawings():
        for item in path.get("items", ()):
            op = item[0]
            if op == "l":
                (x0, y0), (x1, y1) = item[1], item[2]
                if abs(y0 - y1) < 1.0 and abs(x1 - x0) > 5:
                    h += 1
                elif abs(x0 - x1) < 1.0 and abs(y1 - y0) > 5:
                    v += 1
            elif op == "re":
                r = pymupdf.Rect(item[1])
                if r.height < 2 and r.width > 5:
                    h += 1
                elif r.width < 2 and r.height > 5:
                    v += 1
                elif r.width > 5 and r.height > 5:
                    h += 2
                    v += 2
    return h, v


def might_have_tables(page: pymupdf.Page, config: TableConfig) -> bool:
    if not config.enabled:
        return False
    h, v = _rules(page)
    return h >= config.min_rules and v >= 2


def to_markdown(header: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> str:
    def esc(c: str) -> str:
        return c.replace("|", "\\|").replace("\n", " ")

    width = max([len(header), *(len(r) for r in rows)])
    head = list(header) + [""] * (width - len(header))
    lines = ["| " + " | ".join(esc(c) for c in head) + " |", "|" + "---|" * width]
    for r in rows:
        cells = list(r) + [""] * (width - len(r))
        lines.append("| " + " | ".join(esc(c) for c in cells) + " |")
    return "\n".join(lines)


def _words_in(words: list[tuple], box: tuple) -> str:
    """Text of the words whose centre lies in ``box``, line by line in
    PyMuPDF's logical order (right-to-left scripts stay in reading order,
    which pdfplumber's visual-order cell text does not)."""
    x0, y0, x1, y1 = box
    lines: dict[tuple[int, int], list[str]] = {}
    for w in words:
        cx, cy = (w[0] + w[2]) / 2, (w[1] + w[3]) / 2
        if x0 <= cx <= x1 and y0 <= cy <= y1:
            lines.setdefault((w[5], w[6]), []).append(w[4])
    return "\n".join(" ".join(ws) for _, ws in sorted(lines.items()))


def _cell(text: str | None) -> str:
    if not text:
        return ""
    out = ""
    for line in text.split("\n"):
        line = " ".join(line.split())
        out = join_lines(out, line) if out else line
    return out


def make_table(grid: list[list[str | None]], page_number: int, index: int, bbox: BBox | None, method: str, config: TableConfig) -> Table | None:
    """A ``Table`` from a grid of cell texts (None = a merged cell), or None
    when the grid is not a real table (one row, one filled column)."""
    rows = [[_cell(c) for c in r] for r in grid]
    rows = [r for r in rows if any(rows_c for rows_c in r)]
    if len(rows) < config.min_rows:
        return None
    width = max(len(r) for r in rows)
    filled = [j for j in range(width) if any(j < len(r) and r[j] for r in rows)]
    if len(filled) < config.min_cols:
        return None  # a framed text box, not a table
    rows = [[r[j] if j < len(r) else "" for j in filled] for r in rows]
    cells = [c for r in rows for c in r]
    if sum(1 for c in cells if c) < config.min_fill * len(cells):
        return None  # mostly empty grid: the rules of a chart or a form, not a table
    if sum(1 for r in rows if sum(1 for c in r if c) >= 2) < 2:
        return None  # fewer than two rows with two values: axes or a box, not a table
    if is_rtl(" ".join(cells)):
        rows = [r[::-1] for r in rows]  # right-to-left tables start at the right
    header, body = tuple(rows[0]), tuple(tuple(r) for r in rows[1:])
    return Table(index=index, page=page_number, header=header, rows=body, markdown=to_markdown(header, body), bbox=bbox, method=method)


class TableFinder:
    """Finds the tables of one document's pages; opens pdfplumber lazily."""

    def __init__(self, data: bytes, config: TableConfig | None = None) -> None:
        self.data = data
        self.config = config or TableConfig()
        self._pdf = None
        self.count = 0

    def close(self) -> None:
        if self._pdf is not None:
            self._pdf.close()
            self._pdf = None

    def _plumber(self):
        if self._pdf is None:
            import pdfplumber

            self._pdf = pdfplumber.open(io.BytesIO(self.data))
        return self._pdf

    def find(self, page: pymupdf.Page) -> list[Table]:
        if not might_have_tables(page, self.config):
            return []
        if page.rotation:
            # pdfplumber reads pages unrotated and PyMuPDF's find_tables took
            # seconds per rotated page with scrambled cells: leave the text as
            # text on rotated pages.
            return []
        try:
            found = self._plumber().pages[page.number].find_tables()
        except Exception:  # noqa: BLE001 - best effort: the text stays in the page either way
            return []
        out: list[Table] = []
        words = None
        for t in found:
            if words is None:
                words = page.get_text("words")
            x0, top, x1, bottom = t.bbox
            grid = [[None if c is None else _words_in(words, c) for c in row.cells] for row in t.rows]
            self._add(out, grid, page, (float(x0), float(top), float(x1), float(bottom)), "pdfplumber")
        return out

    def _add(self, out: list[Table], grid, page: pymupdf.Page, bbox: BBox, method: str) -> None:
        table = make_table(grid, page.number + 1, self.count, bbox, method, self.config)
        if table is not None:
            out.append(table)
            self.count += 1
