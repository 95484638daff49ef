"""Reading a page by OCR: render, find the orientation, lay out regions,
read tables, and return regions in reading order (in PDF points of the
upright page)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np
import pymupdf

from pdfrag.extract.headings import Region
from pdfrag.extract.layout import reading_order
from pdfrag.extract.ocr.base import (
    LayoutModel,
    LayoutRegion,
    OcrEngine,
    OcrLine,
    Quad,
    TableModel,
    crop_line,
    quad_box,
    turn_quad,
)
from pdfrag.extract.tables import TableConfig, make_table
from pdfrag.extract.text import join_lines
from pdfrag.types import Table

_KIND = {
    "title": "heading", "text": "text", "reference": "text", "figure": "figure", "figure_caption": "caption",
    "table_caption": "caption", "equation": "formula", "table": "table",
}
_FURNITURE = {"header", "footer"}


@dataclass
class OcrPage:
    regions: list[Region]
    tables: list[Table]
    rotation: int  # clockwise degrees the page image was turned to read it
    width: float  # points, upright page
    height: float
    lines: int
    score: float


def _quality(lines: list[OcrLine]) -> float:
    """Confidence-weighted amount of text read."""
    return sum(ln.score * len(ln.text) for ln in lines)


def _area(box) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def _box_crop(img: np.ndarray, box) -> np.ndarray:
    h, w = img.shape[:2]
    x0, y0, x1, y1 = (max(int(v), 0) for v in box)
    return img[y0 : min(y1, h), x0 : min(x1, w)]


def _standing_share(boxes) -> float:
    """Share of the elongated line boxes (a few characters or more) that
    stand upright: a page turned sideways."""
    long = [(b[2] - b[0], b[3] - b[1]) for b in boxes if max(b[2] - b[0], b[3] - b[1]) >= 2 * max(min(b[2] - b[0], b[3] - b[1]), 1e-6)]
    if not long:
        return 0.0
    return sum(1 for w, h in long if h > w) / len(long)


def _vertical_share(lines: list[OcrLine]) -> float:
    longish = [ln for ln in lines if len(ln.text) >= 3]
    if not longish:
        return 0.0
    return sum(1 for ln in longish if (ln.box[3] - ln.box[1]) > 1.5 * (ln.box[2] - ln.box[0])) / len(longish)


class PageReader:
    def __init__(
        self,
        engine: OcrEngine,
        layout: LayoutModel | None = None,
        tables: TableModel | None = None,
        dpi: int = 200,
        max_side: int = 3500,
        min_score: float = 0.5,
        sample_lines: int = 8,
    ) -> None:
        self.engine = engine
        self.layout = layout
        self.table_model = tables
        self.dpi = dpi
        self.max_side = max_side
        self.min_score = min_score
        self.sample_lines = sample_lines  # lines tried at each orientation

    def config(self) -> dict:
        return {
            **self.engine.config(), "layout": getattr(self.layout, "name", None), "tables": getattr(self.table_model, "name", None),
            "dpi": self.dpi, "max_side": self.max_side, "min_score": self.min_score,
        }

    # Rendering and orientation -------------------------------------------
    def render(self, page: pymupdf.Page) -> tuple[np.ndarray, float]:
        """The page as RGB pixels at ``dpi``, its longest side at most
        ``max_side`` or the engine's own limit (an engine that shrinks larger
        images would only waste the larger rendering)."""
        zoom = self.dpi / 72.0
        longest = max(page.rect.width, page.rect.height) * zoom
        limit = min(self.max_side, self.engine.max_side or self.max_side)
        if longest > limit:
            zoom *= limit / longest
        pix = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), alpha=False, colorspace=pymupdf.csRGB)
        img = np.frombuffer(pix.samples, dtype=np.uint8).reshape(pix.h, pix.w, pix.n)[:, :, :3]
        return np.ascontiguousarray(img), zoom

    def _read(self, img: np.ndarray) -> list[OcrLine]:
        return [ln for ln in self.engine.read(img) if ln.score >= self.min_score]

    def _recognize(self, img: np.ndarray, quads: list[Quad]) -> list[OcrLine]:
        crops, kept = [], []
        tallest = 0.25 * min(img.shape[:2])  # a "line" taller than this is a picture the detector boxed
        for q in quads:
            b = quad_box(q)
            if min(b[2] - b[0], b[3] - b[1]) > tallest:
                continue
            crop = crop_line(img, q)
            if crop.size:
                crops.append(np.ascontiguousarray(crop))
                kept.append(q)
        lines = []
        for q, (text, score) in zip(kept, self.engine.recognize(crops), strict=False):
            if text and score >= self.min_score:
                lines.append(OcrLine(quad_box(q), text, score, q))
        return lines

    def orient(self, img: np.ndarray) -> tuple[np.ndarray, int, list[OcrLine]]:
        """Find the page's lines and its orientation, and read the lines
        the way up that reads best.

        Lines are detected once. When most of them stand upright (a page
        turned sideways) or the page reads poorly (upside down), the other
        orientations are tried on a sample of its largest lines by
        recognition alone, and all lines are read turned the way that reads
        best: a turned page costs one detection and at most two readings."""
        quads = self.engine.detect(img)
        if quads is None:
            return self._orient_by_reading(img)
        if not quads:
            return img, 0, []
        boxes = [quad_box(q) for q in quads]
        sideways = _standing_share(boxes) > 0.5
        sample = sorted(range(len(quads)), key=lambda i: -_area(boxes[i]))[: self.sample_lines]
        lines: list[OcrLine] = []
        if not sideways:
            lines = self._recognize(img, quads)
            if lines and statistics.fmean(ln.score for ln in lines) >= 0.9:
                return img, 0, lines
            by_quad = {ln.quad: ln for ln in lines}
            upright = [by_quad[quads[i]] for i in sample if quads[i] in by_quad]
            turns: tuple[tuple[int, int], ...] = ((2, 180),)  # np.rot90 turns counter-clockwise
        else:
            upright = self._recognize(img, [quads[i] for i in sample])
            turns = ((1, 90), (3, 270))
        best = self._best_turn(img, [boxes[i] for i in sample], upright, turns)
        if best == (0, 0):
            return img, 0, lines if not sideways else self._recognize(img, quads)
        h, w = img.shape[:2]
        turned = np.ascontiguousarray(np.rot90(img, best[0]))
        return turned, best[1], self._recognize(turned, [turn_quad(q, best[0], w, h) for q in quads])

    def _best_turn(
        self, img: np.ndarray, boxes: list, upright: list[OcrLine], turns: tuple[tuple[int, int], ...]
    ) -> tuple[int, int]:
        """(np.rot90 quarter turns, clockwise degrees) that read the sample
        lines in ``boxes`` best, (0, 0) when none beats the lines as read
        upright (``upright``). The recognizer lays standing crops on their
        side and reads sideways lines too, but their order is then lost:
        text read sideways counts for less."""
        best, best_quality = (0, 0), _quality(upright) * (1.0 - 0.5 * _vertical_share(upright))
        crops = [c for c in (_box_crop(img, b) for b in boxes) if c.size]
        for k, deg in turns:
            read = self.engine.recognize([np.ascontiguousarray(np.rot90(c, k)) for c in crops])
            quality = sum(score * len(text) for text, score in read if score >= self.min_score)
            if quality > best_quality:
                best, best_quality = (k, deg), quality
        return best

    def _orient_by_reading(self, img: np.ndarray) -> tuple[np.ndarray, int, list[OcrLine]]:
        """``orient`` for engines that only read whole images: read upright;
        when the text reads sideways or poorly, try the other orientations
        on a sample of lines and read the page again turned the best way."""
        raw = self.engine.read(img)
        lines = [ln for ln in raw if ln.score >= self.min_score]
        if not raw:
            return img, 0, lines  # nothing detected: turning finds nothing either
        sideways = _vertical_share(raw) > 0.5
        if not sideways and lines and statistics.fmean(ln.score for ln in lines) >= 0.9:
            return img, 0, lines
        turns = ((1, 90), (3, 270)) if sideways else ((2, 180),)  # np.rot90 turns counter-clockwise
        sample = sorted(raw, key=lambda ln: -_area(ln.box))[: self.sample_lines]
        best = self._best_turn(img, [ln.box for ln in sample], [ln for ln in sample if ln.score >= self.min_score], turns)
        if best == (0, 0):
            return img, 0, lines
        turned = np.ascontiguousarray(np.rot90(img, best[0]))
        return turned, best[1], self._read(turned)

    # Page -------------------------------------------------------------------
    def read(self, page: pymupdf.Page, first_table_index: int = 0, table_config: TableConfig | None = None) -> OcrPage:
        img, zoom = self.render(page)
        img, rotation, lines = self.orient(img)
        h, w = img.shape[:2]
        regions_px = self.layout.regions(img) if (self.layout is not None and lines) else []
        regions: list[Region] = []
        tables: list[Table] = []
        used = [False] * len(lines)
        boxes: list[tuple[float, float, float, float]] = []
        for reg in sorted(regions_px, key=lambda r: -r.score):
            members = [i for i, ln in enumerate(lines) if not used[i] and _inside(ln.box, reg.box)]
            if not members and reg.label != "table":
                continue
            for i in members:
                used[i] = True
            if reg.label in _FURNITURE:
                continue
            kind = _KIND.get(reg.label, "text")
            if kind == "table":
                table = self._table(img, reg, [lines[i] for i in members], page.number + 1, first_table_index + len(tables), table_config or TableConfig(), zoom)
                if table is not None:
                    regions.append(Region(_pt(reg.box, zoom), table.markdown, kind="table", table_index=len(tables), lines=len(members)))
                    tables.append(table)
                    boxes.append(reg.box)
                    continue
                kind = "text"
            if not members:
                continue
            region = _region([lines[i] for i in members], kind, zoom)
            regions.append(region)
            boxes.append(reg.box)
        # Lines outside every region: paragraphs of their own.
        rest = [lines[i] for i in range(len(lines)) if not used[i]]
        for para in _paragraphs(rest):
            regions.append(_region(para, "text", zoom))
            boxes.append(_union([ln.box for ln in para]))
        order = reading_order([_pt(b, zoom) for b in boxes])
        score = statistics.fmean([ln.score for ln in lines]) if lines else 0.0
        return OcrPage([regions[i] for i in order], tables, rotation, w / zoom, h / zoom, len(lines), score)

    def _table(self, img, reg: LayoutRegion, members: list[OcrLine], page_number: int, index: int, cfg: TableConfig, zoom: float) -> Table | None:
        if self.table_model is None or not members:
            return None
        x0, y0, x1, y1 = (int(max(v, 0)) for v in reg.box)
        crop = np.ascontiguousarray(img[y0:y1, x0:x1])
        if crop.size == 0:
            return None
        shifted = [
            OcrLine((ln.box[0] - x0, ln.box[1] - y0, ln.box[2] - x0, ln.box[3] - y0), ln.text, ln.score, tuple((px - x0, py - y0) for px, py in ln.quad))
            for ln in members
        ]
        try:
            grid = self.table_model.grid(crop, shifted)
        except Exception:  # noqa: BLE001 - fall back to the table's text
            return None
        return make_table(grid, page_number, index, _pt(reg.box, zoom), "ocr", cfg)


def _pt(box, zoom: float):
    return tuple(float(v) / zoom for v in box)


def _inside(line_box, region_box, slack: float = 4.0) -> bool:
    cx, cy = (line_box[0] + line_box[2]) / 2, (line_box[1] + line_box[3]) / 2
    return region_box[0] - slack <= cx <= region_box[2] + slack and region_box[1] - slack <= cy <= region_box[3] + slack


def _union(boxes):
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _rows(lines: list[OcrLine]) -> list[list[OcrLine]]:
    """Lines sorted into visual rows (top to bottom), each left to right."""
    rows: list[list[OcrLine]] = []
    for ln in sorted(lines, key=lambda ln: (ln.box[1] + ln.box[3]) / 2):
        cy = (ln.box[1] + ln.box[3]) / 2
        if rows:
            last = rows[-1][-1]
            if abs(cy - (last.box[1] + last.box[3]) / 2) < 0.5 * (last.box[3] - last.box[1]):
                rows[-1].append(ln)
                continue
        rows.append([ln])
    return [sorted(r, key=lambda ln: ln.box[0]) for r in rows]


def _region(lines: list[OcrLine], kind: str, zoom: float) -> Region:
    text = ""
    rows = _rows(lines)
    for row in rows:
        line = " ".join(ln.text for ln in row)
        text = join_lines(text, line) if text else line
    height = statistics.median([(ln.box[3] - ln.box[1]) for ln in lines]) / zoom
    # Glyphs fill about 70 % of a detected line box: report a font-size-like figure.
    return Region(_pt(_union([ln.box for ln in lines]), zoom), text, kind=kind, size=round(height * 0.7, 1), lines=len(rows))


def _paragraphs(lines: list[OcrLine]) -> list[list[OcrLine]]:
    """Without a layout model: lines in XY-cut order, grouped where the gap
    to the next line is small and they overlap horizontally."""
    if not lines:
        return []
    order = reading_order([ln.box for ln in lines])
    paras: list[list[OcrLine]] = []
    for i in order:
        ln = lines[i]
        if paras:
            prev = paras[-1][-1]
            h = prev.box[3] - prev.box[1]
            gap = ln.box[1] - prev.box[3]
            overlap = min(ln.box[2], prev.box[2]) - max(ln.box[0], prev.box[0])
            if -0.5 * h <= gap <= 0.8 * h and overlap > 0 and abs((ln.box[3] - ln.box[1]) - h) < 0.3 * h:
                paras[-1].append(ln)
                continue
        paras.append([ln])
    return paras
