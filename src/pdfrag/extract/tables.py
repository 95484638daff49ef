"""Tables on text-layer pages: find ruled tables, keep rows and header,
render Markdown.

The rules come from PyMuPDF's vector drawings (lines, thin rectangles and
the sides of cell rectangles); pdfplumber's lattice algorithm, indexed in
``lattice.py``, snaps and joins them, intersects them and closes cells
into tables. Pages with too few rules
skip all of it, so prose stays fast, and nothing parses the page a second
time (running pdfplumber's own ``find_tables`` cost 0.5–1 s a page). Cell
text comes from PyMuPDF's words inside each cell (logical order, so
right-to-left scripts read correctly). Pages with a /Rotate are left as
text.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass

import pymupdf

from pdfrag.extract import lattice
from pdfrag.extract.text import is_rtl, join_lines
from pdfrag.types import BBox, Table


@dataclass(frozen=True)
class TableConfig:
    enabled: bool = True
    min_rules: int = 3  # horizontal rules needed before looking for a grid
    max_rules: int = 3000
    min_rows: int = 2
    min_cols: int = 2
    min_fill: float = 0.4  # share of non-empty cells


def _rules(page: pymupdf.Page, limit: int) -> tuple[list[lattice.Rule], list[lattice.Rule]] | None:
    """Horizontal ``(y, x0, x1)`` and vertical ``(x, top, bottom)`` rules of
    the page's vector graphics (lines, thin rectangles, and the sides of cell
    rectangles); None past ``limit`` rules (a drawing, not a table)."""
    h: list[lattice.Rule] = []
    v: list[lattice.Rule] = []
    add_h, add_v = h.append, v.append
    for path in page.get_cdrawings(extended=False):
        for item in path["items"]:
            op = item[0]
            if op == "l":
                (x0, y0), (x1, y1) = item[1], item[2]
                dx, dy = x1 - x0, y1 - y0
                if -1.0 < dy < 1.0 and (dx > 5 or dx < -5):
                    add_h((y0, x0, x1) if dx > 0 else (y0, x1, x0))
                elif -1.0 < dx < 1.0 and (dy > 5 or dy < -5):
                    add_v((x0, y0, y1) if dy > 0 else (x0, y1, y0))
            elif op == "re":
                x0, y0, x1, y1 = item[1]
                if x1 < x0:
                    x0, x1 = x1, x0
                if y1 < y0:
                    y0, y1 = y1, y0
                w, ht = x1 - x0, y1 - y0
                if ht < 2 and w > 5:
                    add_h(((y0 + y1) / 2, x0, x1))
                elif w < 2 and ht > 5:
                    add_v(((x0 + x1) / 2, y0, y1))
                elif w > 5 and ht > 5:
                    h += [(y0, x0, x1), (y1, x0, x1)]
                    v += [(x0, y0, y1), (x1, y0, y1)]
        if len(h) + len(v) > limit:
            return None
    return h, v


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


def _cell_texts(words: list[tuple], cells: list[tuple]) -> list[str]:
    """``_words_in`` for every cell of a table, each cell looking only at the
    words of its own row band (words sorted by their centre's height)."""
    order = sorted(range(len(words)), key=lambda i: words[i][1] + words[i][3])
    keys = [(words[i][1] + words[i][3]) / 2 for i in order]
    out = []
    for c in cells:
        band = sorted(order[bisect_left(keys, c[1]) : bisect_right(keys, c[3])])  # back in page order
        out.append(_words_in([words[i] for i in band], c))
    return out


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
    """Finds the tables of one document's pages, numbering them in order."""

    def __init__(self, config: TableConfig | None = None) -> None:
        self.config = config or TableConfig()
        self.count = 0

    def find(self, page: pymupdf.Page, textpage: pymupdf.TextPage | None = None) -> list[Table]:
        if not self.config.enabled or page.rotation:
            # pdfplumber's geometry is that of the unrotated page: leave the
            # text of rotated pages as text.
            return []
        rules = _rules(page, self.config.max_rules)
        if rules is None:
            return []  # a drawing (a chart, a map, hatching), not a ruled table
        h, v = rules
        if len(h) < self.config.min_rules or len(v) < 2:
            return []
        # pdfplumber's lattice algorithm (snap and join the rules, intersect
        # them, close cells, group cells into tables; lattice.py) run on
        # PyMuPDF's drawings: no second parse of the page.
        try:
            h, v = lattice.merge(h), lattice.merge(v)
            groups = lattice.tables(lattice.cells(lattice.intersections(h, v)))
        except Exception:  # noqa: BLE001 - best effort: the text stays in the page either way
            return []
        out: list[Table] = []
        words = None
        for group in groups:
            if len(group) < self.config.min_rows * self.config.min_cols:
                continue
            if words is None:
                words = page.get_text("words", textpage=textpage) if textpage is not None else page.get_text("words")
            row_of = {y: i for i, y in enumerate(sorted({round(c[1], 1) for c in group}))}
            col_of = {x: j for j, x in enumerate(sorted({round(c[0], 1) for c in group}))}
            grid: list[list[str | None]] = [[None] * len(col_of) for _ in row_of]
            bbox = (min(c[0] for c in group), min(c[1] for c in group), max(c[2] for c in group), max(c[3] for c in group))
            inside = [w for w in words if bbox[0] <= (w[0] + w[2]) / 2 <= bbox[2] and bbox[1] <= (w[1] + w[3]) / 2 <= bbox[3]]
            for c, text in zip(group, _cell_texts(inside, group), strict=True):
                grid[row_of[round(c[1], 1)]][col_of[round(c[0], 1)]] = text
            self._add(out, grid, page, tuple(float(v) for v in bbox), "lattice")  # type: ignore[arg-type]
        return out

    def _add(self, out: list[Table], grid, page: pymupdf.Page, bbox: BBox, method: str) -> None:
        table = make_table(grid, page.number + 1, self.count, bbox, method, self.config)
        if table is not None:
            out.append(table)
            self.count += 1
