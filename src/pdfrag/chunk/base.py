"""Chunker interface and the limits every chunker obeys.

A chunker sees a document's text (pages joined by blank lines, with the
pages' blocks placed in it) and returns pieces: spans ``(start, end)`` into
that text, optionally with a heading path and a *context* (text the embedding
model reads before the span, e.g. the heading path or a table's header). The
base class then

- trims whitespace at both ends of every span;
- merges pieces smaller than ``min_size`` into a neighbour when the result
  fits;
- enforces the hard limits: never more tokens (context included) than
  ``max_tokens`` (at most what the model takes), never more UTF-8 bytes than
  the Milvus ``text`` field holds; a piece over either is split again;
- turns pieces into ``Chunk`` records with page ranges, heading paths, token
  counts and deterministic ids.

``Chunk.text`` is always ``document_text[char_start:char_end]``. When a piece
has a context, ``Chunk.metadata["embed_text"]`` holds context + text: what
gets embedded (``embedding_text``); the stored and displayed text stays the
span.
"""

from __future__ import annotations

import bisect
import json
import unicodedata
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, ClassVar, Literal, Protocol

from pdfrag.embed.tokens import ModelTokenizer
from pdfrag.extract.text import is_cjk
from pdfrag.identity import chunk_id, config_hash
from pdfrag.types import Block, Chunk, Page, Table

PAGE_JOIN = "\n\n"
# Milvus VARCHAR max_length counts UTF-8 bytes; the collection's text field is
# created with this length.
MAX_TEXT_BYTES = 65_535
# Bumped when a change to the shared machinery changes the chunks a given
# configuration produces: it is part of every chunker's config (and so of
# chunk ids and stage keys).
CHUNKING_VERSION = 3  # 3: a paragraph running on across a page break is not cut there

Unit = Literal["tokens", "chars"]


# A sentence (or clause) ends here: a paragraph that stops on one of these at
# the foot of a page is not taken to run on to the next.
_TERMINAL = frozenset(".!?;:…。！？；：")
_CLOSERS = "\"'”’»)]}）】」』》〉"


def page_separator(prev: Page, nxt: Page) -> str:
    """What goes between two pages of a document in its text: a paragraph
    break, or, where the previous page's last paragraph runs on into the
    next page's first (both body text from the extractor, the sentence
    unfinished at the foot of the page, and the next page going on with a
    lower-case word or more Chinese or Japanese), a space (nothing between
    CJK characters), so that the sentence and its words are whole for the
    chunker, full-text search and the model."""
    if not prev.blocks or not nxt.blocks:
        return PAGE_JOIN
    last = max(prev.blocks, key=lambda b: b.end)
    first = min(nxt.blocks, key=lambda b: b.start)
    if last.kind != "text" or first.kind != "text" or last.end < len(prev.text.rstrip()) or first.start > len(nxt.text) - len(nxt.text.lstrip()):
        return PAGE_JOIN
    tail = prev.text.rstrip().rstrip(_CLOSERS)
    head = nxt.text.lstrip()
    if not tail or not head or tail[-1] in _TERMINAL:
        return PAGE_JOIN
    a, b = tail[-1], head[0]
    if is_cjk(a) and is_cjk(b) and not unicodedata.category(b).startswith("P"):
        return ""
    if b.islower() and (a.isalnum() or a in ",-\u00ad"):
        return "" if a in "-\u00ad" else " "
    return PAGE_JOIN


@dataclass(frozen=True)
class DocBlock:
    """A page's block placed in the document text (offsets into it)."""

    start: int
    end: int
    kind: str
    heading_path: tuple[str, ...]
    level: int
    page: int
    table: Table | None = None


@dataclass(frozen=True)
class DocumentText:
    """The text a chunker splits, with where each page begins in it and the
    pages' blocks (given by the extractor, or read from Markdown/wikitext
    headings and pipe tables when a page has none)."""

    text: str
    page_starts: list[int]
    page_numbers: list[int]
    blocks: tuple[DocBlock, ...] = ()

    @classmethod
    def from_pages(cls, pages: list[Page]) -> DocumentText:
        from pdfrag.chunk.markdown import text_blocks

        parts, starts, numbers = [], [], []
        blocks: list[DocBlock] = []
        path: tuple[str, ...] = ()
        levels: tuple[int, ...] = ()
        pos = 0
        previous: Page | None = None
        for p in pages:
            if not p.text:
                continue
            if parts:
                sep = page_separator(previous, p) if previous is not None else PAGE_JOIN
                parts.append(sep)
                pos += len(sep)
            previous = p
            starts.append(pos)
            numbers.append(p.page)
            parts.append(p.text)
            n = len(p.text)
            own = sorted((b for b in p.blocks if 0 <= b.start < b.end <= n), key=lambda b: (b.start, b.end))
            if own:
                for b in own:
                    table = None
                    if b.kind == "table" and b.table_index is not None and 0 <= b.table_index < len(p.tables):
                        table = p.tables[b.table_index]
                    blocks.append(DocBlock(pos + b.start, pos + b.end, b.kind, tuple(b.heading_path), b.level, p.page, table))
                path = tuple(own[-1].heading_path)
                levels = tuple(range(1, len(path) + 1))
            else:
                found, path, levels = text_blocks(p.text, path, levels)
                blocks.extend(_placed(b, pos, p.page) for b in found)
            pos += n
        return cls("".join(parts), starts, numbers, tuple(blocks))

    def page_at(self, offset: int) -> int:
        i = bisect.bisect_right(self.page_starts, offset) - 1
        return self.page_numbers[max(i, 0)] if self.page_numbers else 1

    @cached_property
    def _block_starts(self) -> list[int]:
        return [b.start for b in self.blocks]

    def heading_path_at(self, offset: int) -> tuple[str, ...]:
        """The headings in effect at ``offset``: those of the last block that
        starts at or before it."""
        i = bisect.bisect_right(self._block_starts, offset) - 1
        return self.blocks[i].heading_path if i >= 0 else ()


def _placed(b: Block, pos: int, page: int) -> DocBlock:
    return DocBlock(pos + b.start, pos + b.end, b.kind, b.heading_path, b.level, page)


class Measure(Protocol):
    def count(self, a: int, b: int) -> int: ...

    def boundaries(self, a: int, b: int) -> Any: ...


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


class CharIndex:
    """The same interface counting characters (``unit = "chars"``)."""

    def count(self, a: int, b: int) -> int:
        return max(b - a, 0)

    def boundaries(self, a: int, b: int) -> range:
        return range(a + 1, b)


@dataclass
class Piece:
    """A span a chunker proposes. ``heading_path`` None: the path in effect
    at ``start``. ``context``: text the embedding reads before the span.
    ``sealed``: never merged with a neighbour (its context belongs to it
    alone, e.g. table rows under their repeated header)."""

    start: int
    end: int
    heading_path: tuple[str, ...] | None = None
    context: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    sealed: bool = False
    tokens: int | None = None  # tokens of the span alone, once counted
    embed: tuple[int, int] | None = None  # neighbouring text embedded with it: (start, end) around the span


class Chunker(ABC):
    name: ClassVar[str]

    def __init__(
        self,
        tokenizer: ModelTokenizer,
        size: int,
        *,
        unit: Unit = "tokens",
        min_size: int = 0,
        max_bytes: int = MAX_TEXT_BYTES,
        context: int = 0,
    ) -> None:
        from pdfrag.errors import ConfigError

        if context < 0:
            raise ValueError(f"context ({context}) must be >= 0")

        if unit not in ("tokens", "chars"):
            raise ValueError(f"unit must be 'tokens' or 'chars', not {unit!r}")
        if size < 1:
            raise ValueError(f"size ({size}) must be at least 1")
        if min_size < 0:
            raise ValueError(f"min_size ({min_size}) must be >= 0")
        if unit == "tokens" and size > tokenizer.budget:
            raise ConfigError(
                f"chunk size {size} tokens exceeds what {tokenizer.profile.name} takes "
                f"({tokenizer.budget} content tokens of {tokenizer.profile.max_tokens}); the tail would be cut off at embedding",
                stage="chunk",
                hint=f"set chunk.size to {tokenizer.budget} or less",
            )
        self.tokenizer = tokenizer
        self.size = size
        self.unit: Unit = unit
        self.min_size = min_size
        # The hard limit in model tokens: the size itself when sizes are
        # tokens, else everything the model takes.
        self.max_tokens = size if unit == "tokens" else tokenizer.budget
        self.max_bytes = max_bytes
        # Tokens of the text around a chunk embedded with it (half before,
        # half after), within what the model takes: the vector sees the
        # chunk's neighbourhood, the chunk stays the span.
        self.context = context

    # What a chunker implements ------------------------------------------
    def split(self, text: str, tokens: TokenIndex) -> list[tuple[int, int]]:
        """Spans of ``text``, in order. Chunkers that need the document's
        blocks override ``pieces`` instead."""
        raise NotImplementedError

    def pieces(self, doc: DocumentText, tokens: TokenIndex) -> list[Piece]:
        return [Piece(a, b) for a, b in self.split(doc.text, tokens)]

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The chunker's own settings."""

    def context_for(self, text: str, a: int, b: int, heading_path: tuple[str, ...]) -> str:
        """Context of a merged piece (chunkers that prefix headings override)."""
        return ""

    # Identity ------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """Name and settings plus the tokenizer: part of chunk ids and keys."""
        cfg = {
            "chunker": self.name, "model": self.tokenizer.profile.name, "max_tokens": self.max_tokens,
            "max_bytes": self.max_bytes, "v": CHUNKING_VERSION, **self.params(),
        }
        if self.context:
            cfg["context"] = self.context
        return cfg

    def pipeline_hash(self, upstream: Any) -> str:
        return config_hash({"upstream": upstream, "chunker": self.config()})

    def measure(self, tokens: TokenIndex) -> Measure:
        return tokens if self.unit == "tokens" else CharIndex()

    # Chunking ------------------------------------------------------------
    def chunk(self, doc_id: str, pages: list[Page], pipeline_hash: str) -> list[Chunk]:
        doc = DocumentText.from_pages(pages)
        if not doc.text.strip():
            return []
        tokens = TokenIndex(doc.text, self.tokenizer)
        pieces = [_trimmed(doc.text, p) for p in self.pieces(doc, tokens)]
        pieces = [p for p in pieces if p.end > p.start]
        pieces = self._merge_small(doc, pieces, tokens)
        pieces = self._enforce_limits(doc, pieces, tokens)
        texts = [doc.text[p.start : p.end] for p in pieces]
        todo = [i for i, p in enumerate(pieces) if p.tokens is None]
        for i, n in zip(todo, self.tokenizer.count_batch([texts[i] for i in todo]), strict=True):
            pieces[i].tokens = n
        if self.context:
            self._add_context(doc.text, pieces, tokens)
        chunks = []
        for i, (p, text) in enumerate(zip(pieces, texts, strict=True)):
            meta = dict(p.meta)
            if p.embed is not None:
                meta["embed_text"] = p.context + doc.text[p.embed[0] : p.embed[1]]
                meta["embed_span"] = list(p.embed)
            elif p.context:
                meta["embed_text"] = p.context + text
            chunks.append(
                Chunk(
                    chunk_id=chunk_id(doc_id, pipeline_hash, i),
                    doc_id=doc_id,
                    chunk_index=i,
                    text=text,
                    char_start=p.start,
                    char_end=p.end,
                    page_start=doc.page_at(p.start),
                    page_end=doc.page_at(p.end - 1),
                    token_count=p.tokens or 0,
                    heading_path=p.heading_path if p.heading_path is not None else doc.heading_path_at(p.start),
                    metadata=meta,
                )
            )
        return chunks

    # Limits --------------------------------------------------------------
    def _merge_small(self, doc: DocumentText, pieces: list[Piece], tokens: TokenIndex) -> list[Piece]:
        """Pieces under ``min_size`` join the piece before them, or else the
        one after, when the union stays within the size and the limits."""
        if self.min_size <= 0 or len(pieces) < 2:
            return pieces
        m = self.measure(tokens)
        out: list[Piece] = []
        for p in pieces:
            if out and not p.sealed and not out[-1].sealed:
                q = out[-1]
                if m.count(p.start, p.end) < self.min_size or m.count(q.start, q.end) < self.min_size:
                    merged = self._merged(doc, q, p)
                    if self._fits(doc.text, merged, m, tokens):
                        out[-1] = merged
                        continue
            out.append(p)
        return out

    def _merged(self, doc: DocumentText, q: Piece, p: Piece) -> Piece:
        a, b = min(q.start, p.start), max(q.end, p.end)
        if q.heading_path is None and p.heading_path is None:
            path = None
            ctx = ""
        else:
            qp = q.heading_path if q.heading_path is not None else doc.heading_path_at(q.start)
            pp = p.heading_path if p.heading_path is not None else doc.heading_path_at(p.start)
            path = common_prefix(qp, pp)
            ctx = self.context_for(doc.text, a, b, path)
        return Piece(a, b, path, ctx, merge_meta(q.meta, p.meta))

    def _fits(self, text: str, p: Piece, m: Measure, tokens: TokenIndex) -> bool:
        if m.count(p.start, p.end) > self.size:
            return False
        extra = self.tokenizer.count(p.context) if p.context else 0
        if tokens.count(p.start, p.end) + extra > self.max_tokens:
            return False
        return len(text[p.start : p.end].encode("utf-8")) <= self.max_bytes

    def _enforce_limits(self, doc: DocumentText, pieces: list[Piece], tokens: TokenIndex) -> list[Piece]:
        """Re-tokenize each chunk as the model will see it (context first) and
        split again any that is over the token or byte limit (tokenizing a
        span alone can differ by a token from counting it inside the whole
        text)."""
        text = doc.text
        for p in pieces:  # a context never takes more than half the budget
            if p.context and self.tokenizer.count(p.context) > self.max_tokens // 2:
                p.context = ""
        counts = self.tokenizer.count_batch([p.context + text[p.start : p.end] for p in pieces])
        out: list[Piece] = []
        for p, n in zip(pieces, counts, strict=True):
            if n <= self.max_tokens and len(text[p.start : p.end].encode("utf-8")) <= self.max_bytes:
                if not p.context:
                    p.tokens = n
                out.append(p)
            else:
                out.extend(self._hard_split(text, p, p.start, p.end, tokens))
        return out

    def _add_context(self, text: str, pieces: list[Piece], tokens: TokenIndex) -> None:
        """Give each piece up to ``context`` tokens of the text around it
        (half before, half after; the rest to the other side near the ends
        of the document), cut at word boundaries, within what the model
        takes (the chunk itself stays within ``max_tokens``)."""
        starts = tokens.starts
        own = self.tokenizer.count_batch([p.context for p in pieces])
        for p, extra in zip(pieces, own, strict=True):
            room = min(self.context, self.tokenizer.budget - (p.tokens or 0) - extra - 2)
            if room < 4:
                continue
            i0, i1 = bisect.bisect_left(starts, p.start), bisect.bisect_left(starts, p.end)
            before = min(room // 2, i0)
            after = min(room - before, len(starts) - i1)
            before = min(room - after, i0)
            a = _word_start(text, starts[i0 - before], p.start) if before else p.start
            b = _word_end(text, starts[i1 + after] if i1 + after < len(starts) else len(text), p.end) if after else p.end
            while (a, b) != (p.start, p.end) and self.tokenizer.count(p.context + text[a:b]) > self.tokenizer.budget:
                # re-tokenizing may differ from counting inside the text: shrink
                a = _word_start(text, a + max((p.start - a) // 4, 1), p.start) if a < p.start else a
                b = _word_end(text, b - max((b - p.end) // 4, 1), p.end) if b > p.end else b
            if (a, b) != (p.start, p.end):
                p.embed = (a, b)

    def _hard_split(self, text: str, p: Piece, a: int, b: int, tokens: TokenIndex) -> list[Piece]:
        piece = text[a:b]
        fits = self.tokenizer.count(p.context + piece) <= self.max_tokens and len(piece.encode("utf-8")) <= self.max_bytes
        if fits or b - a <= 1:
            a, b = _trim(text, a, b)
            return [replace(p, start=a, end=b, tokens=None, meta=dict(p.meta))] if b > a else []
        cuts = tokens.boundaries(a, b)
        mid = cuts[len(cuts) // 2] if cuts else (a + b) // 2
        if mid <= a or mid >= b:
            mid = (a + b) // 2
        return [*self._hard_split(text, p, a, mid, tokens), *self._hard_split(text, p, mid, b, tokens)]


def merge_meta(x: dict[str, Any], y: dict[str, Any]) -> dict[str, Any]:
    """Metadata of two merged pieces: lists joined (without repeats), other
    values from the second."""
    out = dict(x)
    for k, v in y.items():
        if isinstance(v, list) and isinstance(out.get(k), list):
            out[k] = out[k] + [e for e in v if e not in out[k]]
        else:
            out[k] = v
    return out


def common_prefix(x: tuple[str, ...], y: tuple[str, ...]) -> tuple[str, ...]:
    n = 0
    for u, v in zip(x, y):
        if u != v:
            break
        n += 1
    return x[:n]


def _boundary(text: str, i: int) -> bool:
    """Whether a cut at ``i`` falls between words (or between CJK characters,
    which have no spaces to cut at)."""
    if i <= 0 or i >= len(text):
        return True
    x, y = text[i - 1], text[i]
    return x.isspace() or y.isspace() or x >= "\u2e80" or y >= "\u2e80"


def _word_start(text: str, a: int, limit: int) -> int:
    """``a``, moved forward to the start of a word (at most to ``limit``)."""
    while a < limit and not _boundary(text, a):
        a += 1
    return min(a, limit)


def _word_end(text: str, b: int, limit: int) -> int:
    """``b``, moved back to the end of a word (at least to ``limit``)."""
    b = min(b, len(text))
    while b > limit and not _boundary(text, b):
        b -= 1
    return max(b, limit)


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def _trimmed(text: str, p: Piece) -> Piece:
    a, b = _trim(text, p.start, p.end)
    if (a, b) != (p.start, p.end):
        p.start, p.end, p.tokens = a, b, None
    return p


def embedding_text(text: str, metadata: dict[str, Any] | str | None) -> str:
    """What the embedding model reads for a chunk: its ``embed_text`` (context
    + span) when the chunker set one, else the span's text. ``metadata`` as a
    dict or as the JSON string of the chunks Parquet."""
    if isinstance(metadata, str):
        metadata = json.loads(metadata) if metadata else None
    if metadata and isinstance(metadata.get("embed_text"), str):
        return metadata["embed_text"]
    return text
