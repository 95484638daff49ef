"""Reading order by recursive XY-cut over boxes (pure geometry, no PDF).

A region is cut where a band of whitespace crosses it completely:

- a *vertical* gutter that runs through the whole region splits it into
  columns, read left to right (right to left for RTL pages);
- otherwise *horizontal* gaps split it into bands, read top to bottom.

Plain XY-cut reads two columns wrongly when paragraph gaps in both columns
happen to line up: the horizontal cut slices both columns and the page is
read band by band (left-top, right-top, left-bottom, ...). So after a
horizontal split, neighbouring bands that both have a gutter at the same
place are merged again, and the merged region is then cut into columns:
full-width titles, figures and footnotes stay bands of their own, columns
are read to their end. A band that holds text on one side of the gutter
only (one column runs on below the other) joins the columns above it.

Rows of a form or a borderless table also show "gutters" between their
cells; cutting those into columns would read all labels, then all values.
A vertical cut is refused when most boxes on its left have a partner on its
right at the same height (they form rows, not columns).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

BBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class CutConfig:
    min_gutter: float = 6.0  # points of whitespace between columns
    min_gap: float = 1.0  # points of whitespace between bands
    rtl: bool = False


def reading_order(boxes: Sequence[BBox], config: CutConfig | None = None) -> list[int]:
    """Indices of ``boxes`` in reading order."""
    cfg = config or CutConfig()
    idx = list(range(len(boxes)))
    if len(idx) <= 1:
        return idx
    out: list[int] = []
    _cut(boxes, idx, cfg, out, depth=0)
    return out


def _cut(boxes: Sequence[BBox], idx: list[int], cfg: CutConfig, out: list[int], depth: int) -> None:
    if len(idx) == 1 or depth > 60:
        out.extend(_simple_order(boxes, idx))
        return
    cols = _columns(boxes, idx, cfg)
    if cols is not None:
        for part in cols:
            _cut(boxes, part, cfg, out, depth + 1)
        return
    bands = _bands(boxes, idx, cfg)
    if len(bands) == 1:
        out.extend(_simple_order(boxes, idx))
        return
    for part in _merge_column_bands(boxes, bands, cfg):
        if len(part) == len(idx):  # merging undid the cut: no progress possible
            out.extend(_simple_order(boxes, part))
        else:
            _cut(boxes, part, cfg, out, depth + 1)


def _simple_order(boxes: Sequence[BBox], idx: list[int]) -> list[int]:
    """Top to bottom, then left to right."""
    return sorted(idx, key=lambda i: (boxes[i][1], boxes[i][0]))


def _gaps(intervals: list[tuple[float, float]], min_width: float) -> list[tuple[float, float]]:
    """Whitespace between the union of 1-D intervals: (start, end) of each gap."""
    intervals = sorted(intervals)
    gaps = []
    reach = intervals[0][1]
    for a, b in intervals[1:]:
        if a - reach >= min_width:
            gaps.append((reach, a))
        reach = max(reach, b)
    return gaps


def _columns(boxes: Sequence[BBox], idx: list[int], cfg: CutConfig) -> list[list[int]] | None:
    gaps = _gaps([(boxes[i][0], boxes[i][2]) for i in idx], cfg.min_gutter)
    if not gaps:
        return None
    cuts = [(a + b) / 2 for a, b in gaps]
    parts: list[list[int]] = [[] for _ in range(len(cuts) + 1)]
    for i in idx:
        cx = (boxes[i][0] + boxes[i][2]) / 2
        k = sum(1 for c in cuts if cx > c)
        parts[k].append(i)
    parts = [p for p in parts if p]
    if len(parts) < 2 or _is_rows(boxes, parts):
        return None
    return parts[::-1] if cfg.rtl else parts


def _is_rows(boxes: Sequence[BBox], parts: list[list[int]]) -> bool:
    """Do the parts line up row by row (a form or borderless table)?"""
    left, right = parts[0], parts[1]
    if len(left) < 2:
        return False
    paired = 0
    for i in left:
        y0, y1 = boxes[i][1], boxes[i][3]
        h = max(y1 - y0, 1e-3)
        for j in right:
            hj = max(boxes[j][3] - boxes[j][1], 1e-3)
            # Same row: tops aligned and the boxes overlap for most of the
            # taller one's height. Paragraphs in neighbouring columns may
            # overlap a lot, but rarely start at the same height, box after box.
            overlap = min(y1, boxes[j][3]) - max(y0, boxes[j][1])
            tol = 0.25 * min(h, hj) + 2
            if abs(boxes[j][1] - y0) <= tol and abs(boxes[j][3] - y1) <= tol and overlap > 0.6 * max(h, hj):
                paired += 1
                break
    # Columns often start level and may match once more by chance: rows need
    # at least three pairs, and most boxes of the smaller side paired (line
    # numbers run on beside blank lines, so the sides can differ in length).
    return paired >= 0.75 * min(len(left), len(right)) and paired >= 3


def _bands(boxes: Sequence[BBox], idx: list[int], cfg: CutConfig) -> list[list[int]]:
    gaps = _gaps([(boxes[i][1], boxes[i][3]) for i in idx], cfg.min_gap)
    if not gaps:
        return [idx]
    cuts = [(a + b) / 2 for a, b in gaps]
    parts: list[list[int]] = [[] for _ in range(len(cuts) + 1)]
    for i in idx:
        cy = (boxes[i][1] + boxes[i][3]) / 2
        k = sum(1 for c in cuts if cy > c)
        parts[k].append(i)
    return [p for p in parts if p]


def _gutter(boxes: Sequence[BBox], idx: list[int], cfg: CutConfig) -> tuple[float, float] | None:
    """The widest vertical gutter of a band, if the band splits into columns."""
    gaps = _gaps([(boxes[i][0], boxes[i][2]) for i in idx], cfg.min_gutter)
    if not gaps:
        return None
    if _columns(boxes, idx, cfg) is None:
        return None
    return max(gaps, key=lambda g: g[1] - g[0])


def _merge_column_bands(boxes: Sequence[BBox], bands: list[list[int]], cfg: CutConfig) -> list[list[int]]:
    """Join consecutive bands whose gutters overlap: they are one set of columns."""
    merged: list[list[int]] = []
    gutter: tuple[float, float] | None = None
    for band in bands:
        g = _gutter(boxes, band, cfg)
        if merged and g is not None and gutter is not None and min(g[1], gutter[1]) > max(g[0], gutter[0]):
            merged[-1] = merged[-1] + band
            gutter = (max(g[0], gutter[0]), min(g[1], gutter[1]))
        elif merged and g is None and gutter is not None and all(_beside(boxes[i], gutter) for i in band):
            # A paragraph that only one column continues (the other column
            # ends higher, or holds a figure's labels): still the same columns.
            merged[-1] = merged[-1] + band
        else:
            merged.append(list(band))
            gutter = g
    return merged


def _beside(box: BBox, gutter: tuple[float, float]) -> bool:
    """Does the box stay on one side of the gutter?"""
    return box[2] <= gutter[0] + 1.0 or box[0] >= gutter[1] - 1.0
