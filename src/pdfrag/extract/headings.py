"""Headings from font size and weight (or OCR layout labels), and the
heading path of every region. Pure: works on ``Region`` lists."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from pdfrag.types import BBox

_NUMBERED = re.compile(r"^(\d+(?:\.\d+){0,5})\.?\s+\S")
_ENDS_SENTENCE = re.compile(r"[.,;]$")


@dataclass
class Region:
    """A block of a page in reading order, before offsets are assigned."""

    bbox: BBox
    text: str
    kind: str = "text"  # text | heading | table | figure | caption | list | formula
    size: float = 0.0  # dominant font size (points; OCR: line height)
    bold: bool = False
    lines: int = 1
    level: int = 0
    table_index: int | None = None  # into the page's tables
    rotated: bool = False  # text not written left to right (margin notes, stamps): kept out of the XY-cut
    heading_path: tuple[str, ...] = field(default=())
    # Text layer: the boxes of the first and last lines (paragraphs.py).
    first: BBox | None = None
    last: BBox | None = None


def body_size(pages: list[list[Region]]) -> float:
    sizes: Counter[float] = Counter()
    for regions in pages:
        for r in regions:
            if r.kind == "text" and r.size > 0:
                sizes[round(r.size * 2) / 2] += len(r.text)
    return sizes.most_common(1)[0][0] if sizes else 0.0


def _candidate(r: Region, body: float) -> bool:
    text = r.text.strip()
    if r.kind not in ("text", "heading") or not text or len(text) > 150 or r.lines > 3:
        return False
    if not any(ch.isalpha() for ch in text) or _ENDS_SENTENCE.search(text):
        return False
    if r.kind == "heading":  # labelled by a layout model
        return True
    if body <= 0:
        return False
    if r.size >= body * 1.15:
        return True
    return r.bold and r.size >= body * 0.95 and len(text) <= 80 and r.lines <= 2


def mark_headings(pages: list[list[Region]]) -> None:
    """Set ``kind='heading'`` and ``level`` on heading regions, in place.

    Levels: a numbered heading ("2.1 Methods") takes its numbering depth;
    otherwise larger type is a higher level, and bold at body size is the
    lowest."""
    body = body_size(pages)
    heads = [r for regions in pages for r in regions if _candidate(r, body)]
    sizes = sorted({round(r.size * 2) / 2 for r in heads if r.size >= body * 1.15}, reverse=True)
    rank = {s: i + 1 for i, s in enumerate(sizes[:5])}
    lowest = len(rank) + 1
    for r in heads:
        r.kind = "heading"
        m = _NUMBERED.match(r.text.strip())
        if m:
            r.level = min(m.group(1).count(".") + 1, 6)
        else:
            r.level = rank.get(round(r.size * 2) / 2, lowest)


def assign_heading_paths(pages: list[list[Region]]) -> None:
    """Walk the document in reading order keeping a stack of open headings."""
    stack: list[tuple[int, str]] = []
    for regions in pages:
        for r in regions:
            if r.kind == "heading":
                while stack and stack[-1][0] >= r.level:
                    stack.pop()
                stack.append((r.level, " ".join(r.text.split())))
            r.heading_path = tuple(t for _, t in stack)
