"""Lines that a PDF writer left as blocks of their own, joined back into
their paragraphs. Pure: works on ``Region`` lists in reading order.

MuPDF groups lines into blocks by their spacing. Double-spaced text, and
the generous line spacing of many Chinese documents exported from word
processors, leave every line a block of its own; read as they are, each
line would be a paragraph, a Chinese word cut by a line end would be two
words to full-text search, and chunks would break between any two lines.

A block continues the paragraph before it when a reader would read it so:

- both are body text (not tables, headings, sideways text or a row of
  lines side by side) of the same size and weight, with line boxes from
  the text layer;
- it is one line, one line below, at the paragraph's own line pitch, or,
  for blocks of one line each, at the pitch that most such pairs on the
  page share (at least three): lines at no common pitch are headings,
  labels or statements, and stay apart; so does a paragraph set off by
  extra space, and a block of several lines (MuPDF grouped its lines and
  split it from the one above for a reason);
- it is in the same column, which is at least sixteen font sizes wide
  (narrower ones are form fields, labels and tables without rules), not
  indented past the paragraph's left edge (a first-line indent starts a
  paragraph; the lines of a list item may hang under its text), and does
  not start with a list marker or a numbered clause;
- the paragraph's last line is full: the next line's first word would not
  have fitted in the room left at its end (the rule typesetters use; a
  short line ends a paragraph; CJK lines may end two characters short). The
  column's right edge is where three or more lines of the same size and
  left edge end (else the furthest right any of them reaches).

Right-to-left pages are left as they are.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right

from pdfrag.extract.headings import Region
from pdfrag.extract.text import is_cjk, join_lines

# Bullets (and the private-use glyphs of symbol fonts), "1." "1)" "(1)" "（1）"
# "a)" "(a)" "i." "(iv)" "一、" "第…条": a list item or clause starts its own paragraph.
_MARKER = re.compile(
    r"^(?:[•◦▪‣●○■□–\-*·※◆◇▶►✓✔\uf000-\uf0ff]|\(?\d{1,3}[.)、．]|[（(]\s*[\d一二三四五六七八九十]{1,3}\s*[)）]|\(?[a-zA-Z][.)]\s|\([a-zA-Z]{1,2}\)|\([ivxIVX]{1,4}\)"
    r"|[ivxlcIVXLC]{1,5}[.)]\s|[一二三四五六七八九十]{1,3}[、．.]|第\s*[\d.一二三四五六七八九十百]+\s*[章节条款部篇])"
)
_SIZE_TOLERANCE = 0.6  # points
_MIN_COLUMN = 16  # font sizes: narrower columns are labels, form fields, table cells
_MAX_LINES = 400  # blocks on a page past which it is a drawing or a form, not running text


def join_paragraph_lines(regions: list[Region], rtl: bool = False) -> list[Region]:
    """``regions`` with each block that continues the paragraph before it
    (see the module) merged into that paragraph. Right-to-left pages, and
    pages of more than 400 text blocks (drawings, forms), are left as they
    are."""
    if len(regions) < 2 or rtl:
        return regions
    lined = [r for r in regions if _lined(r)]
    if len(lined) > _MAX_LINES:
        return regions
    right = _column_rights(lined)
    step = _page_step(regions)
    out: list[Region] = []
    for r in regions:
        p = out[-1] if out else None
        if p is not None and _continues(p, r, right, step):
            out[-1] = _merged(p, r)
        else:
            out.append(r)
    return out


def _lined(r: Region) -> bool:
    """Body text with line boxes whose lines stack (several lines side by
    side are a row of a table or a form, not a paragraph)."""
    if r.kind != "text" or r.rotated or r.first is None or r.last is None or r.size <= 0:
        return False
    return r.lines < 2 or _pitch(r) >= 0.8 * r.size


def _pitch(r: Region) -> float:
    """Line-to-line step inside a region of several lines (0 for one line)."""
    if r.lines < 2 or r.first is None or r.last is None:
        return 0.0
    return (r.last[1] - r.first[1]) / (r.lines - 1)


def _column_rights(lined: list[Region]) -> dict[int, float]:
    """Per region: the right edge of its column, from the text regions of
    its size whose left edge is within four font sizes of its own (a
    first-line indent either way): where three or more of them end at one
    place (justified text, or full lines of a column; a title or abstract
    across the columns ends once), that place; else the furthest right any
    of them reaches."""
    by_left = sorted(lined, key=lambda q: q.bbox[0])
    lefts = [q.bbox[0] for q in by_left]
    out: dict[int, float] = {}
    for r in lined:
        near = by_left[bisect_left(lefts, r.bbox[0] - 4 * r.size) : bisect_right(lefts, r.bbox[0] + 4 * r.size)]
        ends = sorted(q.bbox[2] for q in near if abs(q.size - r.size) <= _SIZE_TOLERANCE)
        best, count = ends[-1], 0
        for i, x in enumerate(ends):
            n = bisect_right(ends, x + 1.5) - i
            if n >= count:
                best, count = ends[i + n - 1], n
        out[id(r)] = best if count >= 3 else ends[-1]
    return out


def _page_step(regions: list[Region]) -> float:
    """The line pitch of a page that sets its lines as blocks of one line
    each: the step (top to top, to half a point) that at least three pairs
    of consecutive one-line blocks of one size share, and at least 40 % of
    such pairs; 0 where there is none (single-line blocks are then headings,
    labels and the like, or lines at no common pitch: never joined)."""
    steps: dict[float, int] = {}
    pairs = 0
    for p, r in zip(regions, regions[1:]):
        if not (_lined(p) and _lined(r)) or p.lines != 1 or r.lines != 1 or abs(p.size - r.size) > _SIZE_TOLERANCE:
            continue
        assert p.first is not None and r.first is not None
        step = r.first[1] - p.first[1]
        if 0 < step < 3 * p.size:
            pairs += 1
            key = round(step * 2) / 2
            steps[key] = steps.get(key, 0) + 1
    if not steps:
        return 0.0
    key = max(steps.items(), key=lambda kv: (kv[1], -kv[0]))[0]
    # neighbours half a point away count too (rounding splits one pitch)
    n = sum(c for k, c in steps.items() if abs(k - key) <= 0.5)
    return key if n >= 3 and n >= 0.4 * pairs else 0.0


def _first_word_width(text: str, size: float) -> float:
    """Room at the end of a line that still counts as full before a line
    starting with ``text``: the first word's width with the space before it
    (about half an em a letter). Before a CJK line, two and a half ems: a
    line of CJK text ends a character or two short when the characters that
    may not start a line (，。、」…) pull the one before them down with them."""
    if not text:
        return 0.0
    if is_cjk(text[0]):
        return size * 2.5
    word = text.split(None, 1)[0]
    return (len(word) + 1) * size * 0.45


def _continues(p: Region, r: Region, right: dict[int, float], page_step: float) -> bool:
    if not (_lined(p) and _lined(r)) or abs(p.size - r.size) > _SIZE_TOLERANCE or p.bold != r.bold:
        return False
    size = p.size
    last, first = p.last, r.first
    assert last is not None and first is not None  # _lined
    # A single line, right below, at the paragraph's own line pitch from top
    # to top or bottom to bottom (a superscript raises a line's top, a
    # subscript lowers its bottom), or at the page's pitch from top to top.
    # Two blocks of several lines each were grouped by MuPDF itself, which
    # split them for a reason.
    if r.lines != 1:
        return False
    tolerance = max(1.0, 0.1 * size)
    pitch = _pitch(p)
    if pitch:
        if min(abs(first[1] - last[1] - pitch), abs(first[3] - last[3] - pitch)) > tolerance:
            return False
    elif not page_step or abs(first[1] - last[1] - page_step) > tolerance:
        return False
    # The same column, wide enough for running text, not indented past the
    # paragraph's left edge.
    if first[0] >= last[2] or last[0] >= first[2]:
        return False
    # A list item's lines may hang under its text, past its marker.
    indent = 4 * size if _MARKER.match(p.text.lstrip()) else 0.5 * size
    if first[0] > p.bbox[0] + indent or first[0] < p.bbox[0] - 4 * size:
        return False
    reach = max(right.get(id(p), p.bbox[2]), right.get(id(r), r.bbox[2]))
    if reach - min(p.bbox[0], first[0]) < _MIN_COLUMN * size:
        return False
    text = r.text.lstrip()
    if _MARKER.match(text):
        return False
    # The paragraph's last line is full.
    return reach - last[2] < _first_word_width(text, size)


def _merged(p: Region, r: Region) -> Region:
    p.text = join_lines(p.text, r.text)
    p.bbox = (min(p.bbox[0], r.bbox[0]), min(p.bbox[1], r.bbox[1]), max(p.bbox[2], r.bbox[2]), max(p.bbox[3], r.bbox[3]))
    p.lines += r.lines
    p.last = r.last
    return p
