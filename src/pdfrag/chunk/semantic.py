"""Semantic chunker: sentences embedded, boundaries where meaning changes,
and hard minimum and maximum sizes (popular semantic splitters have none).

1. The text is cut into sentences (``. ! ?`` followed by space, ``。！？；``,
   blank lines); a sentence longer than ``sentence_tokens`` (default 50, or
   half the size when that is smaller; the pieces Chroma's
   ClusterSemanticChunker works on are 50 tokens) is cut into even parts
   (at lines, clauses, words); fragments of a few tokens join a neighbour.
2. Each sentence is embedded and neighbours are compared by cosine
   similarity. With ``window > 0`` the ``window`` sentences before a
   boundary (it included) are compared with as many after it; ``dp`` and
   ``cluster`` then embed each sentence with ``window`` sentences on each
   side.
3. Boundaries, by ``breakpoint``:

   - ``threshold``: where the similarity of neighbours falls below
     ``threshold`` (default 0.5);
   - ``percentile``, ``stddev``, ``iqr``: where the distance (1 - similarity)
     of neighbours is above its ``threshold``-th percentile (default 95),
     above the mean plus ``threshold`` standard deviations (default 3), or
     above the third quartile plus ``threshold`` interquartile ranges
     (default 1.5);
   - ``gradient``: where the gradient of the distances is above its
     ``threshold``-th percentile (default 95);
   - ``dp``: globally, by dynamic programming: the segmentation into chunks
     of at most ``size`` tokens (and, unless impossible, at least
     ``min_size``) that maximizes the summed within-chunk similarity of
     sentence pairs, each pair counting its similarity minus ``threshold``
     (as in Chroma's ClusterSemanticChunker, which subtracts the mean
     pairwise similarity, which lets chunks grow to the maximum); default:
     0.25 for all-MiniLM-L6-v2 (calibrated on the chunking benchmark: its
     neighbouring sentences score about 0.4, unrelated ones about 0.1), for
     other models the 30th percentile of the similarities of neighbouring
     sentences in the document, on that model's own scale. Chunks then grow
     as long as the text stays coherent and stop where it does not, up to
     ``size``;
   - ``cluster``: by agglomerative clustering of neighbours: the most
     similar adjacent groups merge first (cosine of their mean vectors) until
     the best pair is less similar than ``threshold`` (default: the median
     similarity of neighbouring sentences) or no merge fits in ``size``.

   Groups above ``size`` are cut again at their largest distance (keeping
   both sides above ``min_size`` when possible); groups below ``min_size``
   join their more similar neighbour when the union fits.

The embedder is the pipeline's model on the backend ``chunk.split_backend``
picks, asked for lazily; its identity is part of the chunker's
configuration. With the ``static`` backend (token vectors distilled from the
model, no forward pass; ``pdfrag.embed.static``, the default for
all-MiniLM-L6-v2) ``dp`` centres on ``STATIC_DP_CENTRES`` (0.25 for
all-MiniLM-L6-v2 as well, calibrated on the chunking benchmark separately).
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import numpy as np

from pdfrag.chunk.base import Chunker, TokenIndex
from pdfrag.chunk.recursive import RecursiveChunker
from pdfrag.embed.base import Embedder
from pdfrag.embed.tokens import ModelTokenizer

Breakpoint = Literal["threshold", "percentile", "stddev", "iqr", "gradient", "dp", "cluster"]
BREAKPOINTS: tuple[str, ...] = ("threshold", "percentile", "stddev", "iqr", "gradient", "dp", "cluster")
DEFAULT_THRESHOLDS: dict[str, float | None] = {
    "threshold": 0.5, "percentile": 95.0, "stddev": 3.0, "iqr": 1.5, "gradient": 95.0, "dp": None, "cluster": None,
}

# Sentence ends: CJK punctuation (no space follows in Chinese), Latin
# punctuation followed by whitespace, and blank lines.
_SENT_END = re.compile(r"[。！？；]+[”’\"」』）)]*\s*|[.!?]+[\"'”’)\]]*\s+|\n[ \t]*\n\s*")
_FRAGMENT_TOKENS = 5
# ``dp`` without a threshold: the centring similarity calibrated for a model
# on the chunking benchmark (see the README), else the document's own scale.
DP_CENTRES: dict[str, float] = {"all-MiniLM-L6-v2": 0.25}
DP_PERCENTILE = 30.0
# The same for the model's static token vectors (backend ``static``),
# calibrated the same way; a model listed here gets static splitting by
# default (``chunk.split_backend``).
STATIC_DP_CENTRES: dict[str, float] = {"all-MiniLM-L6-v2": 0.25}


class SemanticChunker(Chunker):
    name: ClassVar[str] = "semantic"

    def __init__(
        self,
        tokenizer: ModelTokenizer,
        embedder: Embedder | Callable[[], Embedder],
        size: int = 200,
        min_size: int = 16,
        breakpoint: Breakpoint = "dp",
        threshold: float | None = None,
        window: int = 0,
        sentence_tokens: int | None = None,
        batch_size: int = 64,
        context: int = 0,
    ) -> None:
        super().__init__(tokenizer, size, unit="tokens", min_size=min_size, context=context)
        if breakpoint not in BREAKPOINTS:
            raise ValueError(f"breakpoint must be one of {', '.join(BREAKPOINTS)}, not {breakpoint!r}")
        if window < 0:
            raise ValueError(f"window ({window}) must be >= 0")
        if min_size >= size:
            raise ValueError(f"min_size ({min_size}) must be smaller than size ({size})")
        self.breakpoint = breakpoint
        self._threshold = threshold
        self.window = window
        self.sentence_tokens = sentence_tokens or max(8, min(size // 2, 50))
        if not 1 <= self.sentence_tokens <= size:
            raise ValueError(f"sentence_tokens ({self.sentence_tokens}) must be between 1 and size ({size})")
        self.batch_size = batch_size
        self._embedder_or_factory = embedder
        self._splitter = RecursiveChunker(
            tokenizer, size=self.sentence_tokens, overlap=0, separators=["\n", "；", "，", ", ", " ", ""], min_size=0
        )

    @property
    def embedder(self) -> Embedder:
        e = self._embedder_or_factory
        if not isinstance(e, Embedder):
            e = self._embedder_or_factory = e()
        return e

    @property
    def static(self) -> bool:
        """Sentences get static token vectors (``pdfrag.embed.static``): by
        the embedder's configuration, which a wrapper (a cache) passes on."""
        return self.embedder.config().get("backend") == "static"

    @property
    def threshold(self) -> float | None:
        """The breakpoint's parameter: as given, else its default; for
        ``dp``, the centring calibrated for the model (and for its static
        vectors), else None (the document's own scale)."""
        if self._threshold is not None:
            return self._threshold
        if self.breakpoint == "dp":
            name = self.tokenizer.profile.name
            return (STATIC_DP_CENTRES if self.static else DP_CENTRES).get(name)
        return DEFAULT_THRESHOLDS[self.breakpoint]

    def params(self) -> dict[str, Any]:
        return {
            "size": self.size, "min_size": self.min_size, "breakpoint": self.breakpoint, "threshold": self.threshold,
            "window": self.window, "sentence_tokens": self.sentence_tokens, "embedder": self.embedder.config(),
        }

    # Sentences -------------------------------------------------------------
    def sentences(self, text: str, tokens: TokenIndex, a: int = 0, b: int | None = None) -> list[tuple[int, int]]:
        """Spans of ``text[a:b]`` in order, each at most ``sentence_tokens``."""
        b = len(text) if b is None else b
        out: list[tuple[int, int]] = []
        start = a
        for m in _SENT_END.finditer(text, a, b):
            if m.end() > start:
                out.extend(self._fit(text, start, m.end(), tokens))
                start = m.end()
        if start < b:
            out.extend(self._fit(text, start, b, tokens))
        out = [u for u in out if text[u[0] : u[1]].strip()] or [(a, b)]
        # Fragments ("1.", "Fig.", a lone heading word) join the next
        # sentence, or else the one before, when the union fits.
        units: list[tuple[int, int]] = []
        for x, y in out:
            pa, pb = units[-1] if units else (0, 0)
            if units and tokens.count(pa, pb) < _FRAGMENT_TOKENS and "\n\n" not in text[pa:pb] and tokens.count(pa, y) <= self.sentence_tokens:
                units[-1] = (pa, y)
            else:
                units.append((x, y))
        merged: list[tuple[int, int]] = []
        for x, y in units:
            if merged and tokens.count(x, y) < _FRAGMENT_TOKENS and tokens.count(merged[-1][0], y) <= self.sentence_tokens:
                merged[-1] = (merged[-1][0], y)
            else:
                merged.append((x, y))
        return merged

    def _fit(self, text: str, a: int, b: int, tokens: TokenIndex) -> list[tuple[int, int]]:
        n = tokens.count(a, b)
        if n <= self.sentence_tokens:
            return [(a, b)]
        # Even parts (35 tokens: 18 + 17, not 32 + 3).
        parts = -(-n // self.sentence_tokens)
        return self._splitter.split_range(text, a, b, tokens, size=-(-n // parts))

    # Splitting -------------------------------------------------------------
    def split(self, text: str, tokens: TokenIndex) -> list[tuple[int, int]]:
        return self.split_ranges(text, [(0, len(text))], tokens)[0]

    def split_ranges(
        self, text: str, ranges: list[tuple[int, int]], tokens: TokenIndex, sizes: list[int] | None = None
    ) -> list[list[tuple[int, int]]]:
        """Chunks of each range ``text[a:b]`` (of at most ``sizes[i]`` tokens,
        default the chunker's size). One embedding call for all ranges; the
        ``dp`` centring (without a threshold) is the mean over all of them."""
        sizes = sizes or [self.size] * len(ranges)
        units_of = []
        for a, b in ranges:
            units = self.sentences(text, tokens, a, b)
            # Units must tile the range so that chunks do too: stretch each to the next.
            units_of.append([(a if i == 0 else x, units[i + 1][0] if i + 1 < len(units) else b) for i, (x, _) in enumerate(units)])
        flat = [u for units in units_of for u in units]
        starts = np.asarray(tokens.starts, dtype=np.int64)
        vecs_all = self._embed(text, flat, self.window, self.window) if len(flat) > 1 else np.zeros((len(flat), 1), np.float32)
        if self.window and self.breakpoint not in ("dp", "cluster") and len(flat) > 1:
            # The ``window`` sentences before a boundary against those after it.
            before_all, after_all = self._embed(text, flat, self.window, 0), self._embed(text, flat, 0, self.window)
        mu = self.threshold
        if self.breakpoint == "dp" and mu is None and len(flat) > 1:
            # The document's own scale: 30% of its neighbouring sentences are
            # less similar than this (models differ widely in how similar
            # unrelated sentences look).
            mu = float(np.percentile(np.einsum("ij,ij->i", vecs_all[:-1], vecs_all[1:]), DP_PERCENTILE))
        out: list[list[tuple[int, int]]] = []
        pos = 0
        for units, size, (a, b) in zip(units_of, sizes, ranges, strict=True):
            n = len(units)
            vecs = vecs_all[pos : pos + n]
            lo, pos = pos, pos + n
            if n == 1:
                out.append([(a, b)])
                continue
            # Tokens before each unit boundary: units i..j hold edges[j + 1] - edges[i].
            edges = np.searchsorted(starts, [u[0] for u in units] + [b], side="left")
            size_of = lambda i, j, edges=edges: int(edges[j + 1] - edges[i])  # noqa: E731 - units i..j inclusive
            sims = np.einsum("ij,ij->i", vecs[:-1], vecs[1:])  # neighbouring units
            if self.breakpoint == "dp":
                groups = self._dp(vecs, edges, n, size, mu)  # type: ignore[arg-type]
            elif self.breakpoint == "cluster":
                groups = self._cluster(vecs, size_of, n, size)
            else:
                if self.window:  # the ``window`` units before a boundary against those after it
                    cuts = self._breakpoints(np.einsum("ij,ij->i", before_all[lo : lo + n - 1], after_all[lo + 1 : lo + n]))
                else:
                    cuts = self._breakpoints(sims)
                groups, first = [], 0
                for k in cuts:  # a cut after unit k
                    groups.append((first, k))
                    first = k + 1
                groups.append((first, n - 1))
            groups = self._bound(groups, 1.0 - sims, size_of, size)
            out.append([(units[i][0], units[j][1]) for i, j in groups])
        return out

    def _embed(self, text: str, units: list[tuple[int, int]], back: int, ahead: int) -> np.ndarray:
        """Vectors of each unit with ``back`` units before it and ``ahead`` after.

        Sentence against sentence is a symmetric task, which models with
        prefixes embed with the query prefix on both sides (e5: "query: "
        for semantic similarity); models without prefixes see the same text."""
        n = len(units)
        texts = [text[units[max(0, i - back)][0] : units[min(n - 1, i + ahead)][1]].strip() for i in range(n)]
        return np.asarray(self.embedder.embed_queries(texts, batch_size=self.batch_size), dtype=np.float32)

    def _breakpoints(self, sims: np.ndarray) -> list[int]:
        t = float(self.threshold)  # type: ignore[arg-type]
        dist = 1.0 - sims
        if self.breakpoint == "threshold":
            hit = sims < t
        elif self.breakpoint == "percentile":
            hit = dist > np.percentile(dist, t)
        elif self.breakpoint == "stddev":
            hit = dist > dist.mean() + t * dist.std()
        elif self.breakpoint == "iqr":
            q1, q3 = np.percentile(dist, [25, 75])
            hit = dist > q3 + t * (q3 - q1)
        else:  # gradient
            g = np.gradient(dist) if len(dist) > 1 else np.zeros_like(dist)
            hit = g > np.percentile(g, t)
        return [int(k) for k in np.flatnonzero(hit)]

    def _dp(self, vecs: np.ndarray, edges: np.ndarray, n: int, size: int, mu: float) -> list[tuple[int, int]]:
        penalty = 1e6
        best = np.full(n + 1, -np.inf)
        best[0] = 0.0
        back = np.zeros(n + 1, dtype=np.int64)
        lo = 0
        reward = np.zeros(0)  # reward[j - lo]: within-chunk score of units j..i
        for i in range(n):
            # Scores of j..i from those of j..i-1: add unit i's similarity to j..i-1.
            col = vecs[lo:i] @ vecs[i] - mu
            add = np.cumsum(col[::-1])[::-1]
            reward = np.append(reward + add, 0.0)
            new_lo = lo + int(np.searchsorted(edges[i + 1] - edges[lo : i + 1] <= size, True))
            reward = reward[new_lo - lo :]
            lo = new_lo
            sizes = edges[i + 1] - edges[lo : i + 1]
            # A chunk below the minimum only when nothing else is possible.
            scores = best[lo : i + 1] + reward - penalty * (sizes < self.min_size)
            if i == n - 1 and lo == 0 and sizes[0] < self.min_size:
                scores[0] += penalty  # the whole text is one small chunk
            k = int(np.argmax(scores))
            best[i + 1] = scores[k]
            back[i + 1] = lo + k
        groups = []
        end = n
        while end > 0:
            start = int(back[end])
            groups.append((start, end - 1))
            end = start
        return groups[::-1]

    def _cluster(self, vecs: np.ndarray, size_of: Callable[[int, int], int], n: int, size: int) -> list[tuple[int, int]]:
        if self.threshold is not None:
            stop = float(self.threshold)
        else:
            stop = float(np.median(np.einsum("ij,ij->i", vecs[:-1], vecs[1:])))
        first = list(range(n))  # group id = its first unit
        last = list(range(n))
        sums = vecs.astype(np.float64).copy()
        nxt = list(range(1, n + 1))
        prv = list(range(-1, n - 1))
        alive = [True] * n
        version = [0] * n
        heap: list[tuple[float, int, int, int, int]] = []

        def push(g: int) -> None:
            h = nxt[g]
            if h >= n or size_of(first[g], last[h]) > size:
                return
            a, b = sums[g], sums[h]
            sim = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
            heapq.heappush(heap, (-sim, g, h, version[g], version[h]))

        for g in range(n - 1):
            push(g)
        while heap:
            neg, g, h, vg, vh = heapq.heappop(heap)
            if not (alive[g] and alive[h]) or version[g] != vg or version[h] != vh:
                continue
            if -neg < stop:
                break
            last[g] = last[h]
            sums[g] += sums[h]
            alive[h] = False
            nxt[g] = nxt[h]
            if nxt[h] < n:
                prv[nxt[h]] = g
            version[g] += 1
            push(g)
            if prv[g] >= 0:
                push(prv[g])
        return [(first[g], last[g]) for g in range(n) if alive[g]]

    def _bound(self, groups: list[tuple[int, int]], dist: np.ndarray, size_of: Callable[[int, int], int], size: int) -> list[tuple[int, int]]:
        """Cut groups above ``size`` at their largest distance; merge groups
        below ``min_size`` into their closer neighbour when it fits."""
        out: list[tuple[int, int]] = []
        stack = list(reversed(groups))
        while stack:
            i, j = stack.pop()
            if i == j or size_of(i, j) <= size:
                out.append((i, j))
                continue
            ks = np.arange(i, j)
            ok = [k for k in ks if size_of(i, k) >= self.min_size and size_of(k + 1, j) >= self.min_size]
            cand = np.array(ok) if ok else ks
            k = int(cand[np.argmax(dist[cand])])
            stack.append((k + 1, j))
            stack.append((i, k))
        idx = 0
        while idx < len(out) and len(out) > 1:
            i, j = out[idx]
            if size_of(i, j) >= self.min_size:
                idx += 1
                continue
            options = []
            if idx > 0 and size_of(out[idx - 1][0], j) <= size:
                options.append((dist[i - 1], idx - 1))
            if idx + 1 < len(out) and size_of(i, out[idx + 1][1]) <= size:
                options.append((dist[j], idx + 1))
            if not options:
                idx += 1
                continue
            _, other = min(options)
            lo, hi = min(idx, other), max(idx, other)
            out[lo : hi + 1] = [(out[lo][0], out[hi][1])]
            idx = lo
        return out
