"""Recursive splitter: coarse separators first, finer ones only where a piece
is still too long; pieces packed greedily up to the size, with overlap.

Sizes are counted in the embedding model's tokens. Separators stay with the
piece they end (a sentence keeps its 。 or its ". "). The last separator, the
empty string, cuts at token boundaries.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pdfrag.chunk.base import Chunker, TokenIndex
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
    ) -> None:
        super().__init__(tokenizer, max_tokens=size)
        if not 0 <= overlap < size:
            raise ValueError(f"overlap ({overlap}) must be >= 0 and smaller than size ({size})")
        self.size = size
        self.overlap = overlap
        self.separators = list(separators) if separators is not None else ["\n\n", "\n", "。", "！", "？", "；", "，", ". ", " ", ""]
        if not self.separators or self.separators[-1] != "":
            self.separators.append("")
        self.min_size = min_size

    def params(self) -> dict[str, Any]:
        return {"size": self.size, "overlap": self.overlap, "separators": self.separators, "min_size": self.min_size}

    # Splitting -----------------------------------------------------------
    def split(self, text: str, tokens: TokenIndex) -> list[tuple[int, int]]:
        pieces = self._pieces(text, 0, len(text), 0, tokens)
        return self._merge(pieces, tokens)

    def _pieces(self, text: str, a: int, b: int, level: int, tokens: TokenIndex) -> list[tuple[int, int]]:
        if tokens.count(a, b) <= self.size:
            return [(a, b)]
        sep = self.separators[level]
        if sep == "":
            return self._token_windows(a, b, tokens)
        parts = _split_keep(text, a, b, sep)
        if len(parts) == 1:
            return self._pieces(text, a, b, level + 1, tokens)
        out: list[tuple[int, int]] = []
        for pa, pb in parts:
            if tokens.count(pa, pb) <= self.size:
                out.append((pa, pb))
            else:
                out.extend(self._pieces(text, pa, pb, level + 1, tokens))
        return out

    def _token_windows(self, a: int, b: int, tokens: TokenIndex) -> list[tuple[int, int]]:
        cuts = tokens.boundaries(a, b)
        starts = [a] + cuts
        out = []
        for i in range(0, len(starts), self.size):
            s = starts[i]
            e = starts[i + self.size] if i + self.size < len(starts) else b
            out.append((s, e))
        return out

    # Packing ---------------------------------------------------------------
    def _merge(self, pieces: list[tuple[int, int]], tokens: TokenIndex) -> list[tuple[int, int]]:
        counts = [tokens.count(a, b) for a, b in pieces]
        spans: list[tuple[int, int]] = []
        i = 0
        n = len(pieces)
        while i < n:
            j = i
            total = 0
            while j < n and (j == i or total + counts[j] <= self.size):
                total += counts[j]
                j += 1
            spans.append((pieces[i][0], pieces[j - 1][1]))
            if j >= n:
                break
            # Start the next chunk with the trailing pieces of this one that
            # fit in the overlap, leaving room for the next new piece so that
            # every chunk adds new text.
            room = min(self.overlap, self.size - counts[j])
            k = j
            back = 0
            while k - 1 > i and back + counts[k - 1] <= room:
                back += counts[k - 1]
                k -= 1
            i = k
        return self._merge_small_tail(spans, tokens)

    def _merge_small_tail(self, spans: list[tuple[int, int]], tokens: TokenIndex) -> list[tuple[int, int]]:
        if len(spans) >= 2:
            a, b = spans[-1]
            pa, _ = spans[-2]
            if tokens.count(a, b) < self.min_size and tokens.count(pa, b) <= self.size:
                spans[-2:] = [(pa, b)]
        return spans


def _split_keep(text: str, a: int, b: int, sep: str) -> list[tuple[int, int]]:
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
