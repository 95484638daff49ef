"""Chunker interface and the limits every chunker obeys.

A chunker sees a document's text (pages joined by blank lines) and returns
spans ``(start, end)`` into it; the base class turns spans into ``Chunk``
records with page ranges, token counts and deterministic ids, and enforces
the hard limits: never more tokens than the model takes, never more UTF-8
bytes than the Milvus ``text`` field holds.
"""

from __future__ import annotations

import bisect
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from pdfrag.embed.tokens import ModelTokenizer
from pdfrag.identity import chunk_id, config_hash
from pdfrag.types import Chunk, Page

PAGE_JOIN = "\n\n"
# Milvus VARCHAR max_length counts UTF-8 bytes; the collection's text field is
# created with this length.
MAX_TEXT_BYTES = 65_535


@dataclass(frozen=True)
class DocumentText:
    """The text a chunker splits, with where each page begins in it."""

    text: str
    page_starts: list[int]
    page_numbers: list[int]

    @classmethod
    def from_pages(cls, pages: list[Page]) -> DocumentText:
        parts, starts, numbers = [], [], []
        pos = 0
        for p in pages:
            if not p.text:
                continue
            if parts:
                parts.append(PAGE_JOIN)
                pos += len(PAGE_JOIN)
            starts.append(pos)
            numbers.append(p.page)
            parts.append(p.text)
            pos += len(p.text)
        return cls("".join(parts), starts, numbers)

    def page_at(self, offset: int) -> int:
        i = bisect.bisect_right(self.page_starts, offset) - 1
        return self.page_numbers[max(i, 0)] if self.page_numbers else 1


class TokenIndex:
    """Token counts of any span in O(log n), from one tokenization of the
    whole text: ``count(a, b)`` = tokens starting in ``[a, b)``."""

    def __init__(self, text: str, tokenizer: ModelTokenizer) -> None:
        self.starts = [s for s, _ in tokenizer.offsets(text)]

    def count(self, a: int, b: int) -> int:
        return bisect.bisect_left(self.starts, b) - bisect.bisect_left(self.starts, a)

    def boundaries(self, a: int, b: int) -> list[int]:
        """Token start offsets inside ``(a, b)``: places a span may be cut."""
        lo = bisect.bisect_right(self.starts, a)
        hi = bisect.bisect_left(self.starts, b)
        return self.starts[lo:hi]


class Chunker(ABC):
    name: ClassVar[str]

    def __init__(self, tokenizer: ModelTokenizer, max_tokens: int, max_bytes: int = MAX_TEXT_BYTES) -> None:
        from pdfrag.errors import ConfigError

        if max_tokens > tokenizer.budget:
            raise ConfigError(
                f"chunk size {max_tokens} tokens exceeds what {tokenizer.profile.name} takes "
                f"({tokenizer.budget} content tokens of {tokenizer.profile.max_tokens}); the tail would be cut off at embedding",
                stage="chunk",
                hint=f"set chunk.size to {tokenizer.budget} or less",
            )
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.max_bytes = max_bytes

    @abstractmethod
    def split(self, text: str, tokens: TokenIndex) -> list[tuple[int, int]]:
        """Spans of ``text``, in order, each within ``max_tokens``."""

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The chunker's own settings."""

    def config(self) -> dict[str, Any]:
        """Name and settings plus the tokenizer: part of chunk ids and keys."""
        return {"chunker": self.name, "model": self.tokenizer.profile.name, "max_bytes": self.max_bytes, **self.params()}

    def pipeline_hash(self, upstream: Any) -> str:
        return config_hash({"upstream": upstream, "chunker": self.config()})

    def chunk(self, doc_id: str, pages: list[Page], pipeline_hash: str) -> list[Chunk]:
        doc = DocumentText.from_pages(pages)
        if not doc.text.strip():
            return []
        tokens = TokenIndex(doc.text, self.tokenizer)
        spans = [_trim(doc.text, a, b) for a, b in self.split(doc.text, tokens)]
        spans = [s for s in spans if s[1] > s[0]]
        spans = self._enforce_limits(doc.text, spans, tokens)
        texts = [doc.text[a:b] for a, b in spans]
        counts = self.tokenizer.count_batch(texts)
        chunks = []
        for i, ((a, b), text, n) in enumerate(zip(spans, texts, counts, strict=True)):
            chunks.append(
                Chunk(
                    chunk_id=chunk_id(doc_id, pipeline_hash, i),
                    doc_id=doc_id,
                    chunk_index=i,
                    text=text,
                    char_start=a,
                    char_end=b,
                    page_start=doc.page_at(a),
                    page_end=doc.page_at(b - 1),
                    token_count=n,
                )
            )
        return chunks

    def _enforce_limits(self, text: str, spans: list[tuple[int, int]], tokens: TokenIndex) -> list[tuple[int, int]]:
        """Re-tokenize each chunk as the model will see it and split again any
        that is over the token or byte limit (tokenizing a span alone can differ
        by a token from counting it inside the whole text)."""
        out: list[tuple[int, int]] = []
        pending = list(spans)
        counts = self.tokenizer.count_batch([text[a:b] for a, b in pending])
        for (a, b), n in zip(pending, counts, strict=True):
            if n <= self.max_tokens and len(text[a:b].encode("utf-8")) <= self.max_bytes:
                out.append((a, b))
            else:
                out.extend(self._hard_split(text, a, b, tokens))
        return out

    def _hard_split(self, text: str, a: int, b: int, tokens: TokenIndex) -> list[tuple[int, int]]:
        piece = text[a:b]
        if (self.tokenizer.count(piece) <= self.max_tokens and len(piece.encode("utf-8")) <= self.max_bytes) or b - a <= 1:
            return [_trim(text, a, b)]
        cuts = tokens.boundaries(a, b)
        mid = cuts[len(cuts) // 2] if cuts else (a + b) // 2
        if mid <= a or mid >= b:
            mid = (a + b) // 2
        return [s for s in (*self._hard_split(text, a, mid, tokens), *self._hard_split(text, mid, b, tokens)) if s[1] > s[0]]


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b
