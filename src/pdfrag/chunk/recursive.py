"""Recursive splitter: coarse separators first, finer ones only where a piece
is still too long; pieces packed greedily up to the size, with overlap.

Sizes count the embedding model's tokens (``unit="tokens"``) or characters.
Separators stay with the piece they end (a sentence keeps its 。 or its
". "). The last separator, the empty string, cuts at token (or character)
boundaries.

Overlap is applied at every boundary, not only where whole pieces happen to
fit: the next chunk starts at most ``overlap`` units before the end of the
previous one, at the coarsest separator (paragraph, line, sentence, clause,
word) that still gives at least half of that overlap, else at the earliest
word boundary, else at a token boundary. So overlap does not silently vanish
when the last piece of a chunk is longer than the overlap.
"""

from __future__ import annotations

import bisect
from typing import Any, ClassVar

from pdfrag.chunk.base import Chunker, Measure, TokenIndex, Unit
from pdfrag.config import DEFAULT_SEPARATORS
from pdfrag.embed.tokens import ModelTokenizer


class RecursiveChunker(Chunker):
    name: ClassVar[str] = "recursive"

    def __init__(
        self,
        tokenizer: ModelTokenizer,
        size: int = 200,
        overlap: int = 32,
        separators: list[str] | None = None,
        min_size: int = 16,
        unit: Unit = "tokens",
        context: int = 0,
    ) -> None:
        super().__init__(tokenizer, size, unit=unit, min_size=min_size, context=context)
        if not 0 <= overlap < size:
            raise ValueError(f"overlap ({overlap}) must be >= 0 and smaller than size ({size})")
        self.overlap = overlap
        self.separators = list(separators) if separators is not None else list(DEFAULT_SEPARATORS)
        if not self.separators or self.separators[-1] != "":
            self.separators.append("")

    def params(self) -> dict[str, Any]:
        p = {"size": self.size, "overlap": self.overlap, "separators": self.separators, "min_size": self.min_size}
        if self.unit != "tokens":
            p["unit"] = self.unit
        return p

    # Splitting -----------------------------------------------------------
    def split(self, text: str, tokens: TokenIndex) -> list[tuple[int, int]]:
        return self.split_range(text, 0, len(text), self.measure(tokens))

    def split_range(self, text: str, a: int, b: int, m: Measure, size: int | None = None) -> list[tuple[int, int]]:
        """Chunks of ``text[a:b]`` of at most ``size`` units (default: the
        chunker's size), with the chunker's overlap when it fits."""
        size = size or self.size
        pieces = self._pieces(text, a, b, 0, m, size)
        return self._pack(text, pieces, m, size)

    def _pieces(self, text: str, a: int, b: int, level: int, m: Measure, size: int) -> list[tuple[int, int]]:
        if m.count(a, b) <= size:
            return [(a, b)]
        sep = self.separators[level]
        if sep == "":
            return _windows(a, b, m, size)
        parts = split_keep(text, a, b, sep)
        if len(parts) == 1:
            return self._pieces(text, a, b, level + 1, m, size)
        out: list[tuple[int, int]] = []
        for pa, pb in parts:
            if m.count(pa, pb) <= size:
                out.append((pa, pb))
            else:
                out.extend(self._pieces(text, pa, pb, level + 1, m, size))
        return out

    # Packing ---------------------------------------------------------------
    def _pack(self, text: str, pieces: list[tuple[int, int]], m: Measure, size: int) -> list[tuple[int, int]]:
        if not pieces:
            return []
        counts = [m.count(a, b) for a, b in pieces]
        spans: list[tuple[int, int]] = []
        n = len(pieces)
        i = 0
        start = pieces[0][0]
        lead = 0  # units of overlap text in [start, pieces[i][0])
        while i < n:
            j = i
            total = lead
            while j < n and (j == i or total + counts[j] <= size):
                total += counts[j]
                j += 1
            spans.append((start, pieces[j - 1][1]))
            if j >= n:
                break
            # Leave room for the next new piece so that every chunk adds text.
            room = min(self.overlap, size - counts[j])
            end = pieces[j][0]
            start = self._overlap_start(text, spans[-1][0], end, room, m) if room > 0 else end
            lead = m.count(start, end)
            i = j
        return spans

    def _overlap_start(self, text: str, floor: int, end: int, room: int, m: Measure) -> int:
        """Where the next chunk starts: at most ``room`` units before ``end``
        and after ``floor`` (the previous chunk's start), at a separator."""
        if isinstance(m, TokenIndex):
            k = bisect.bisect_left(m.starts, end) - room
            lo = m.starts[k] if k >= 0 else 0
        else:
            lo = end - room
        lo = max(lo, floor + 1)
        if lo >= end:
            return end
        finest = None
        for sep in self.separators:
            if not sep:
                break
            q = _first_end_of(text, sep, lo, end)
            if q is None:
                continue
            if m.count(q, end) * 2 >= room:
                return q
            finest = q if finest is None else min(finest, q)
        return finest if finest is not None else lo


def _first_end_of(text: str, sep: str, lo: int, end: int) -> int | None:
    """The first position ``q`` in ``[lo, end)`` right after an occurrence of ``sep``."""
    pos = text.find(sep, max(lo - len(sep), 0), end)
    while pos != -1:
        q = pos + len(sep)
        if lo <= q < end:
            return q
        if q >= end:
            return None
        pos = text.find(sep, pos + 1, end)
    return None


def _windows(a: int, b: int, m: Measure, size: int) -> list[tuple[int, int]]:
    if isinstance(m, TokenIndex):
        starts = [a, *m.boundaries(a, b)]
        return [(starts[i], starts[i + size] if i + size < len(starts) else b) for i in range(0, len(starts), size)]
    return [(s, min(s + size, b)) for s in range(a, b, size)]


def split_keep(text: str, a: int, b: int, sep: str) -> list[tuple[int, int]]:
    """Spans of ``text[a:b]`` cut after each ``sep``."""
    out = []
    start = a
    pos = text.find(sep, a, b)
    while pos != -1:
        end = pos + len(sep)
        if end > start:
            out.append((start, end))
        start = end
        pos = text.find(sep, start, b)
    if start < b:
        out.append((start, b))
    return out
