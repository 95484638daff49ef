"""Structure-aware chunker: sections by heading, tables kept whole, heading
path as context.

- A section runs from a heading to the next heading (the text before the
  first heading is a section too). A section that fits is one chunk;
  consecutive small sections that are siblings (or parent and child) are
  packed together up to the size, under their common heading path.
- A longer section is split: its text by the recursive splitter (paragraphs,
  lines, sentences... with overlap), or with ``split="semantic"`` by the
  semantic chunker (sentences embedded, boundaries where the topic changes;
  ``dp`` by default), its tables apart. A table that fits is
  one piece; a longer one is split by rows, and every part after the first
  gets the table's header (its first line, and the ``|---|`` line) as
  context, so each part reads as a table with its column names.
- Heading path as context: a chunk's embedding text is its heading path
  (``Part > Chapter > Section``, outermost headings dropped first if it would
  take more than a quarter of the budget; the last heading left out when the
  chunk starts with it) on one line, then the table header if any, then the
  chunk's text. Sizes are budgeted so that context + text fits in ``size``
  tokens. The chunk's own text and offsets stay the exact span of the
  document; the context is in ``Chunk.metadata["embed_text"]`` (what gets
  embedded) and the path in ``Chunk.heading_path``.

``Chunk.metadata["tables"]`` lists the tables (their position among the
document's tables) a chunk holds; ``table_part`` numbers the parts of a split
table.

Blocks come from the extractor (``Page.blocks``); pages without blocks get
them from Markdown or wikitext headings and pipe tables in their text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

from pdfrag.chunk.base import Chunker, DocBlock, DocumentText, Piece, TokenIndex, common_prefix, merge_meta
from pdfrag.chunk.markdown import heading_of, is_separator_row, is_table_line
from pdfrag.chunk.recursive import RecursiveChunker
from pdfrag.chunk.semantic import SemanticChunker
from pdfrag.embed.base import Embedder
from pdfrag.embed.tokens import ModelTokenizer

PATH_SEP = " > "


class StructureChunker(Chunker):
    name: ClassVar[str] = "structure"

    def __init__(
        self,
        tokenizer: ModelTokenizer,
        size: int = 200,
        overlap: int = 0,
        min_size: int = 16,
        separators: list[str] | None = None,
        heading_prefix: bool = True,
        context: int = 0,
        split: Literal["recursive", "semantic"] = "recursive",
        embedder: Embedder | Callable[[], Embedder] | None = None,
        breakpoint: str = "dp",
        threshold: float | None = None,
        window: int = 0,
    ) -> None:
        super().__init__(tokenizer, size, unit="tokens", min_size=min_size, context=context)
        self._text = RecursiveChunker(tokenizer, size=size, overlap=overlap, separators=separators, min_size=0)
        self.overlap = overlap
        self.separators = self._text.separators
        self.heading_prefix = heading_prefix
        if split not in ("recursive", "semantic"):
            raise ValueError(f"split must be 'recursive' or 'semantic', not {split!r}")
        self.split_with = split
        self._semantic: SemanticChunker | None = None
        if split == "semantic":
            if embedder is None:
                raise ValueError("split='semantic' needs an embedder")
            self._semantic = SemanticChunker(
                tokenizer, embedder, size=size, min_size=min(min_size, size - 1), breakpoint=breakpoint,  # type: ignore[arg-type]
                threshold=threshold, window=window,
            )

    def params(self) -> dict[str, Any]:
        p = {
            "size": self.size, "overlap": self.overlap, "min_size": self.min_size, "separators": self.separators,
            "heading_prefix": self.heading_prefix, "split": self.split_with,
        }
        if self._semantic is not None:
            sem = self._semantic.params()
            p.update({k: sem[k] for k in ("breakpoint", "threshold", "window", "sentence_tokens", "embedder")})
            del p["overlap"], p["separators"]  # the semantic splitter has neither
        return p

    # Context ---------------------------------------------------------------
    def prefix(self, path: tuple[str, ...]) -> str:
        if not self.heading_prefix or not path:
            return ""
        cap = max(self.size // 4, 1)
        while path:
            s = PATH_SEP.join(" ".join(h.split()) for h in path) + "\n"
            if self.tokenizer.count(s) <= cap:
                return s
            path = path[1:]
        return ""

    def context_for(self, text: str, a: int, b: int, heading_path: tuple[str, ...]) -> str:
        path = heading_path
        if path:
            first = text[a:b].lstrip().split("\n", 1)[0]
            h = heading_of(first)
            title = h[1] if h else first.strip()
            if " ".join(title.split()) == " ".join(path[-1].split()):
                path = path[:-1]  # the chunk starts with its own heading
        return self.prefix(path)

    # Pieces ----------------------------------------------------------------
    def pieces(self, doc: DocumentText, tokens: TokenIndex) -> list[Piece]:
        # Plan every section first (whole, or text runs and table pieces),
        # then split all text runs at once (the semantic splitter embeds the
        # document's sentences in one call), then assemble.
        plans: list[tuple[Piece | None, list[Piece | tuple[int, int, tuple[str, ...], int]]]] = []
        for a, b, path, tables in _sections(doc):
            ctx = self.context_for(doc.text, a, b, path)
            if self._fits_budget(ctx, tokens.count(a, b)):
                plans.append((Piece(a, b, path, ctx, {"tables": [_table_no(doc, t) for t in tables]} if tables else {}), []))
            else:
                plans.append((None, self._plan(doc, tokens, a, b, path, tables)))
        runs = [x for _, parts in plans for x in parts if isinstance(x, tuple)]
        spans = iter(self._split_runs(doc.text, tokens, runs))
        out: list[tuple[Piece, bool]] = []
        for whole, parts in plans:
            if whole is not None:
                out.append((whole, True))
                continue
            pieces: list[Piece] = []
            for x in parts:
                if isinstance(x, Piece):
                    pieces.append(x)
                else:
                    path = x[2]
                    pieces.extend(Piece(u, v, path, self.context_for(doc.text, u, v, path)) for u, v in next(spans))
            pieces = [p for p in pieces if doc.text[p.start : p.end].strip()]
            out.extend((p, False) for p in self._merge_forward(doc.text, tokens, pieces))
        return self._pack(doc.text, out, tokens)

    def _fits_budget(self, ctx: str, n_tokens: int) -> bool:
        return n_tokens + (self.tokenizer.count(ctx) if ctx else 0) <= self.size

    def _plan(
        self, doc: DocumentText, tokens: TokenIndex, a: int, b: int, path: tuple[str, ...], tables: list[DocBlock]
    ) -> list[Piece | tuple[int, int, tuple[str, ...], int]]:
        """A section too long for one chunk: its tables as pieces, its text
        runs as (start, end, path, budget) to split."""
        budget = max(self.size - self.tokenizer.count(self.prefix(path)), self.size // 2)
        parts: list[Piece | tuple[int, int, tuple[str, ...], int]] = []
        pos = a
        for t in tables:
            if t.start > pos:
                parts.append((pos, t.start, path, budget))
            parts.extend(self._table_pieces(doc.text, tokens, t, _table_no(doc, t), path, budget))
            pos = max(pos, t.end)
        if pos < b:
            parts.append((pos, b, path, budget))
        return parts

    def _split_runs(self, text: str, tokens: TokenIndex, runs: list[tuple[int, int, tuple[str, ...], int]]) -> list[list[tuple[int, int]]]:
        if not runs:
            return []
        if self._semantic is not None:
            return self._semantic.split_ranges(text, [(a, b) for a, b, _, _ in runs], tokens, [n for _, _, _, n in runs])
        return [self._text.split_range(text, a, b, tokens, size=n) for a, b, _, n in runs]

    def _table_pieces(self, text: str, tokens: TokenIndex, t: DocBlock, number: int, path: tuple[str, ...], budget: int) -> list[Piece]:
        meta: dict[str, Any] = {"tables": [number]}
        ctx = self.context_for(text, t.start, t.end, path)
        if self._fits_budget(ctx, tokens.count(t.start, t.end)):
            return [Piece(t.start, t.end, path, ctx, meta)]
        lines = _line_spans(text, t.start, t.end)
        n_header = 0
        if lines and is_table_line(text[lines[0][0] : lines[0][1]]):
            if len(lines) > 1 and is_separator_row(text[lines[1][0] : lines[1][1]]):
                n_header = 2
            elif t.table is not None and t.table.header:
                n_header = 1
        header = text[lines[0][0] : lines[n_header - 1][1]].strip() + "\n" if n_header else ""
        row_ctx = self.prefix(path) + header
        if header and self.tokenizer.count(row_ctx) > self.size // 2:
            row_ctx = header if self.tokenizer.count(header) <= self.size // 2 else ""
        out: list[Piece] = []
        # The first part holds the header itself; later parts repeat it as context.
        row_limit = self.size - self.tokenizer.count(row_ctx)
        start = t.start
        first = True
        total = 0
        for la, lb in lines[n_header:]:
            n = tokens.count(la, lb)
            limit = budget if first else row_limit
            head = tokens.count(start, la) if first else total
            if head > 0 and head + n > limit:
                out.append(self._table_part(text, start, la, path, row_ctx, first, {**meta, "table_part": len(out)}))
                start, first, total = la, False, 0
                head = 0
            total = head + n
        out.append(self._table_part(text, start, t.end, path, row_ctx, first, {**meta, "table_part": len(out)}))
        return out

    def _table_part(self, text: str, a: int, b: int, path: tuple[str, ...], row_ctx: str, first: bool, meta: dict[str, Any]) -> Piece:
        if first:
            return Piece(a, b, path, self.context_for(text, a, b, path), meta)
        return Piece(a, b, path, row_ctx, meta, sealed=bool(row_ctx))

    def _merge_forward(self, text: str, tokens: TokenIndex, pieces: list[Piece]) -> list[Piece]:
        """Inside a section, a small piece (a heading line before a table, a
        short paragraph) joins the piece after it when the union fits."""
        out: list[Piece] = []
        carry: Piece | None = None
        for p in pieces:
            if carry is not None and not p.sealed:
                ctx = self.context_for(text, carry.start, p.end, p.heading_path or ())
                if self._fits_budget(ctx, tokens.count(carry.start, p.end)):
                    p = Piece(carry.start, p.end, p.heading_path, ctx, merge_meta(carry.meta, p.meta))
                    carry = None
            if carry is not None:
                out.append(carry)
                carry = None
            if not p.sealed and tokens.count(p.start, p.end) < self.min_size:
                carry = p
                continue
            out.append(p)
        if carry is not None:
            out.append(carry)
        return out

    def _pack(self, text: str, items: list[tuple[Piece, bool]], tokens: TokenIndex) -> list[Piece]:
        """Consecutive whole sections that are siblings, or parent and child,
        share chunks up to the size, under their common heading path."""
        out: list[tuple[Piece, bool]] = []
        for p, whole in items:
            if out and whole and out[-1][1]:
                q = out[-1][0]
                x, y = q.heading_path or (), p.heading_path or ()
                shared = common_prefix(x, y)
                siblings = len(x) == len(y) and len(shared) >= len(x) - 1
                if siblings or shared in (x, y):  # or parent and child
                    ctx = self.context_for(text, q.start, p.end, shared)
                    if self._fits_budget(ctx, tokens.count(q.start, p.end)):
                        out[-1] = (Piece(q.start, p.end, shared, ctx, merge_meta(q.meta, p.meta)), True)
                        continue
            out.append((p, whole))
        return [p for p, _ in out]


def _sections(doc: DocumentText) -> list[tuple[int, int, tuple[str, ...], list[DocBlock]]]:
    """``(start, end, heading path, tables)`` of each section, in order; the
    sections tile the text."""
    heads = [b for b in doc.blocks if b.kind == "heading"]
    tables = [b for b in doc.blocks if b.kind == "table"]
    bounds = [0] + [h.start for h in heads] + [len(doc.text)]
    paths = [doc.heading_path_at(0) if not heads or heads[0].start > 0 else ()]
    paths += [h.heading_path or (" ".join(doc.text[h.start : h.end].split()),) for h in heads]
    out = []
    for (a, b), path in zip(zip(bounds, bounds[1:]), paths, strict=True):
        if b > a:
            out.append((a, b, tuple(path), [t for t in tables if a <= t.start < b]))
    return out


def _table_no(doc: DocumentText, t: DocBlock) -> int:
    """The table's position among the document's tables."""
    if t.table is not None:
        return t.table.index
    return [b.start for b in doc.blocks if b.kind == "table"].index(t.start)


def _line_spans(text: str, a: int, b: int) -> list[tuple[int, int]]:
    """Lines of ``text[a:b]``, each with its newline."""
    out = []
    pos = a
    while pos < b:
        nl = text.find("\n", pos, b)
        end = b if nl == -1 else nl + 1
        out.append((pos, end))
        pos = end
    return out
