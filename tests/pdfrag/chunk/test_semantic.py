"""SemanticChunker with the real all-MiniLM-L6-v2 (loaded once a session):
topic boundaries, every breakpoint method, hard minimum and maximum sizes,
English and Chinese."""

from __future__ import annotations

import pytest

from pdfrag.chunk import get_chunker
from pdfrag.chunk.base import DocumentText, TokenIndex
from pdfrag.chunk.semantic import BREAKPOINTS, SemanticChunker
from pdfrag.config import ChunkSettings
from pdfrag.errors import ConfigError
from pdfrag.types import Page

pytestmark = pytest.mark.integration  # loads the real model

DOC = "d" * 64
PIPE = "p" * 64

PASTA = [
    "To cook pasta, bring a large pot of salted water to a rolling boil.",
    "Add the spaghetti and stir it so that the strands do not stick together.",
    "Fresh pasta cooks in two or three minutes, dried pasta takes about ten.",
    "Taste a strand before draining: it should be tender but still firm to the bite.",
    "Save a cup of the starchy cooking water to loosen the tomato sauce later.",
    "Toss the drained noodles with the sauce in the pan over low heat.",
    "Finish the dish with grated parmesan cheese and fresh basil leaves.",
]
BLACK_HOLES = [
    "A black hole is a region of spacetime where gravity is so strong that nothing escapes.",
    "The boundary of no escape is called the event horizon.",
    "Stellar black holes form when massive stars collapse at the end of their life cycle.",
    "Supermassive black holes sit at the centres of most galaxies, including the Milky Way.",
    "In 2019 the Event Horizon Telescope imaged the shadow of the black hole in M87.",
    "Matter falling towards a black hole forms a hot accretion disk that emits X-rays.",
    "Hawking predicted that black holes slowly evaporate by emitting radiation.",
]


# 13 neighbour distances: one outlier among 13 values is at most 3.46
# standard deviations from their mean, so the stddev method gets 2 here.
@pytest.mark.parametrize(("breakpoint", "threshold"), [("percentile", None), ("stddev", 2.0), ("iqr", None), ("dp", None)])
def test_two_topics_split_at_their_boundary(tok, embedder, check, breakpoint, threshold) -> None:
    first = " ".join(PASTA)
    text = first + " " + " ".join(BLACK_HOLES)
    pages = [Page(1, text)]
    ch = SemanticChunker(tok, embedder, size=tok.budget, min_size=16, breakpoint=breakpoint, threshold=threshold)
    chunks = ch.chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, tok.budget)
    assert TokenIndex(text, tok).count(0, len(text)) < tok.budget, "the whole text would fit in one chunk"
    assert [(c.char_start, c.char_end) for c in chunks] == [(0, len(first)), (len(first) + 1, len(text))]


# Static token vectors (the default for splitting) ---------------------------------


@pytest.mark.parametrize(("breakpoint", "threshold"), [("percentile", None), ("dp", None)])
def test_static_vectors_split_two_topics_at_their_boundary(tok, static_embedder, check, breakpoint, threshold) -> None:
    first = " ".join(PASTA)
    text = first + " " + " ".join(BLACK_HOLES)
    pages = [Page(1, text)]
    ch = SemanticChunker(tok, static_embedder, size=tok.budget, min_size=16, breakpoint=breakpoint, threshold=threshold)
    assert ch.static
    chunks = ch.chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, tok.budget)
    assert [(c.char_start, c.char_end) for c in chunks] == [(0, len(first)), (len(first) + 1, len(text))]


def test_static_vectors_have_their_own_dp_centring(tok, embedder, static_embedder, monkeypatch) -> None:
    """dp centres on the value calibrated for the model's sentence vectors,
    or for its static ones (both 0.25 for all-MiniLM-L6-v2, calibrated
    separately); a threshold given is kept; the backend is part of the
    configuration."""
    from pdfrag.chunk import semantic

    model = SemanticChunker(tok, embedder)
    static = SemanticChunker(tok, static_embedder)
    assert (model.threshold, static.threshold) == (0.25, 0.25)
    assert not model.static and static.static
    assert static.config()["embedder"]["backend"] == "static" and model.config()["embedder"]["backend"] != "static"
    assert model.pipeline_hash({}) != static.pipeline_hash({})
    monkeypatch.setattr(semantic, "STATIC_DP_CENTRES", {"all-MiniLM-L6-v2": 0.3})
    assert (model.threshold, static.threshold) == (0.25, 0.3)
    assert SemanticChunker(tok, static_embedder, threshold=0.2).threshold == 0.2
    from pdfrag.chunk.evaluation import CachingEmbedder

    cached = SemanticChunker(tok, CachingEmbedder(static_embedder))  # a wrapper: still the static vectors
    assert cached.static and cached.threshold == 0.3
    assert SemanticChunker(tok, static_embedder, breakpoint="percentile").threshold == 95.0


def test_the_chunking_benchmark_splits_as_the_pipeline_does_without_storing_static_vectors(tmp_path) -> None:
    from pdfrag.chunk.evaluation import CachingEmbedder, sentence_embedder
    from pdfrag.config import EmbedSettings
    from pdfrag.embed import get_embedder

    settings = EmbedSettings(backend="onnx")
    index = CachingEmbedder(get_embedder(settings), tmp_path)
    split = sentence_embedder(settings, index, tmp_path, log=lambda _m: None)
    assert split is not index and split.config()["backend"] == "static"
    assert split.folder is None  # cheaper to compute than to read back
    split.embed_queries(["A sentence.", "Another one."])
    assert not list(tmp_path.rglob("*.npz"))


def test_two_topics_dp_on_the_documents_own_scale(tok, embedder, check, monkeypatch) -> None:
    # a model without a calibrated centring: the document's neighbour similarities set it
    from pdfrag.chunk import semantic

    monkeypatch.setattr(semantic, "DP_CENTRES", {})
    first = " ".join(PASTA)
    text = first + " " + " ".join(BLACK_HOLES)
    ch = SemanticChunker(tok, embedder, size=tok.budget, breakpoint="dp")
    assert ch.threshold is None and ch.config()["threshold"] is None
    chunks = ch.chunk(DOC, [Page(1, text)], PIPE)
    check(chunks, [Page(1, text)], tok, tok.budget)
    assert len(first) in [c.char_end for c in chunks]
    assert not any("pasta" in c.text and "black hole" in c.text for c in chunks)


def test_two_topics_with_a_window_of_sentences(tok, embedder) -> None:
    first = " ".join(PASTA)
    text = first + " " + " ".join(BLACK_HOLES)
    chunks = SemanticChunker(tok, embedder, size=tok.budget, breakpoint="percentile", window=1).chunk(DOC, [Page(1, text)], PIPE)
    assert len(first) in [c.char_end for c in chunks]


def test_two_topics_by_clustering(tok, embedder) -> None:
    first = " ".join(PASTA)
    text = first + " " + " ".join(BLACK_HOLES)
    chunks = SemanticChunker(tok, embedder, size=tok.budget, breakpoint="cluster", threshold=0.3).chunk(DOC, [Page(1, text)], PIPE)
    ends = [c.char_end for c in chunks]
    assert len(first) in ends
    assert not any("pasta" in c.text.lower() and "black hole" in c.text.lower() for c in chunks)


@pytest.mark.parametrize("breakpoint", BREAKPOINTS)
@pytest.mark.parametrize("lang", ["english", "chinese"])
def test_invariants_on_corpus_pdfs(tok, embedder, check, english_pages, chinese_pages, breakpoint, lang) -> None:
    pages = english_pages if lang == "english" else chinese_pages
    ch = SemanticChunker(tok, embedder, size=128, min_size=16, breakpoint=breakpoint)
    chunks = ch.chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, 128)
    assert chunks == SemanticChunker(tok, embedder, size=128, min_size=16, breakpoint=breakpoint).chunk(DOC, pages, PIPE)
    _minimum_kept_where_possible(chunks, DocumentText.from_pages(pages).text, tok, 128, 16)


def _minimum_kept_where_possible(chunks, text, tok, size, min_size) -> None:
    """A chunk under the minimum only where neither neighbour had room for it."""
    for i, c in enumerate(chunks):
        if c.token_count >= min_size or len(chunks) == 1:
            continue
        for j in (i - 1, i + 1):
            if 0 <= j < len(chunks):
                a, b = min(c.char_start, chunks[j].char_start), max(c.char_end, chunks[j].char_end)
                assert tok.count(text[a:b]) > size - 2, f"chunk {i} ({c.token_count} tokens) could have joined chunk {j}"


def test_one_long_topic_still_obeys_the_maximum(tok, embedder, check) -> None:
    # the complaint about semantic splitters: no topic change, no maximum
    text = " ".join(f"Pasta dish number {i} is cooked in salted boiling water and served with tomato sauce." for i in range(120))
    pages = [Page(1, text)]
    for breakpoint in BREAKPOINTS:
        chunks = SemanticChunker(tok, embedder, size=100, min_size=20, breakpoint=breakpoint).chunk(DOC, pages, PIPE)
        check(chunks, pages, tok, 100)
        assert len(chunks) >= TokenIndex(text, tok).count(0, len(text)) // 100
        _minimum_kept_where_possible(chunks, text, tok, 100, 20)


def test_chinese_text_without_spaces_is_split_at_sentence_ends(tok, embedder, check, chinese_text) -> None:
    text = chinese_text(3000)  # sentences of 34 to 36 characters (and tokens)
    pages = [Page(1, text)]
    for breakpoint in ("percentile", "dp"):
        ch = SemanticChunker(tok, embedder, size=160, min_size=16, breakpoint=breakpoint)
        assert ch.sentence_tokens == 50
        chunks = ch.chunk(DOC, pages, PIPE)
        check(chunks, pages, tok, 160)
        assert len(chunks) >= 3000 // 160
        assert all(c.text.endswith("。") for c in chunks[:-1])


def test_sentences(tok, embedder) -> None:
    ch = SemanticChunker(tok, embedder, size=64, min_size=0)
    text = (
        "The first sentence is right here. Is this the second one? It is! "
        "这是第一句话。这是第二句话吗？是的！\n\nA new paragraph without an end"
    )
    units = ch.sentences(text, TokenIndex(text, tok))
    assert [text[a:b].strip() for a, b in units] == [
        "The first sentence is right here.", "Is this the second one?", "It is! 这是第一句话。", "这是第二句话吗？是的！",
        "A new paragraph without an end",
    ]  # fragments under 5 tokens ("It is!", "是的！") join a neighbour
    assert units[0][0] == 0 and all(u[1] <= v[0] for u, v in zip(units, units[1:]))
    # a sentence over the unit size is cut into even parts
    odd = "东北电气发展股份有限公司第十二季度报告正文说明变压器业务收入有所增长。"
    parts = [TokenIndex(odd, tok).count(a, b) for a, b in ch.sentences(odd, TokenIndex(odd, tok))]
    n = TokenIndex(odd, tok).count(0, len(odd))
    assert n == 35 and ch.sentence_tokens == 32
    assert len(parts) == 2 and max(parts) - min(parts) <= 1
    long = "word " * 100
    assert all(TokenIndex(long, tok).count(a, b) <= ch.sentence_tokens for a, b in ch.sentences(long, TokenIndex(long, tok)))


def test_settings_lazy_embedder_and_identity(tok, embedder) -> None:
    calls = []

    def factory():
        calls.append(1)
        return embedder

    ch = get_chunker(ChunkSettings(chunker="semantic", size=150, breakpoint="dp", min_size=10), tok, embedder=factory)
    assert isinstance(ch, SemanticChunker) and not calls  # nothing loaded yet
    cfg = ch.config()
    assert cfg["chunker"] == "semantic" and cfg["breakpoint"] == "dp" and cfg["embedder"]["model"] == "all-MiniLM-L6-v2"
    assert cfg["threshold"] == 0.25  # the centring calibrated for this model
    assert calls == [1]
    other = get_chunker(ChunkSettings(chunker="semantic", size=150, breakpoint="percentile", min_size=10), tok, embedder=embedder)
    assert other.pipeline_hash({}) != ch.pipeline_hash({})
    assert other.config()["threshold"] == 95.0
    with pytest.raises(ConfigError, match="embedder"):
        get_chunker(ChunkSettings(chunker="semantic"), tok)
    with pytest.raises(ValueError, match="breakpoint"):
        SemanticChunker(tok, embedder, breakpoint="nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_size"):
        SemanticChunker(tok, embedder, size=50, min_size=50)
    with pytest.raises(ConfigError, match="exceeds"):
        SemanticChunker(tok, embedder, size=tok.budget + 1)


# Structure chunker with semantic section splitting ------------------------------------


def test_structure_splits_long_sections_at_topic_changes(tok, embedder, check) -> None:
    from pdfrag.chunk.structure import StructureChunker

    first = " ".join(PASTA)
    body = first + " " + " ".join(BLACK_HOLES)
    text = "# Notes\n\n" + body + "\n\n# Short\n\nA short closing section that sums up the notes above, on cooking pasta at home and on black holes."
    pages = [Page(1, text)]
    ch = StructureChunker(tok, size=160, split="semantic", embedder=embedder, breakpoint="dp")
    chunks = ch.chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, 160)
    ends = [c.char_end for c in chunks]
    assert text.index(first) + len(first) in ends, "the long section is cut where the topic changes"
    assert {c.heading_path for c in chunks[:-1]} == {("Notes",)} and chunks[-1].heading_path == ("Short",)
    assert not any("pasta" in c.text and "black hole" in c.text for c in chunks[:-1])
    assert chunks[-2].metadata["embed_text"] == "Notes\n" + chunks[-2].text
    cfg = ch.config()
    assert cfg["split"] == "semantic" and cfg["breakpoint"] == "dp" and cfg["embedder"]["model"] == "all-MiniLM-L6-v2"


@pytest.mark.parametrize("lang", ["english", "chinese"])
def test_structure_semantic_invariants_on_corpus_pdfs(tok, embedder, check, english_pages, chinese_pages, lang) -> None:
    from pdfrag.chunk.structure import StructureChunker

    pages = english_pages if lang == "english" else chinese_pages
    make = lambda: StructureChunker(tok, size=128, split="semantic", embedder=embedder)  # noqa: E731
    chunks = make().chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, 128)
    assert chunks == make().chunk(DOC, pages, PIPE)


def test_default_settings_give_structure_with_semantic_sections(tok, embedder, tmp_path) -> None:
    from pdfrag.chunk.structure import StructureChunker

    with pytest.raises(ConfigError, match="embedder"):
        get_chunker(ChunkSettings(), tok)
    ch = get_chunker(ChunkSettings(), tok, embedder=lambda: embedder)
    assert isinstance(ch, StructureChunker)
    cfg = ch.config()
    assert (cfg["chunker"], cfg["split"], cfg["breakpoint"], cfg["threshold"], cfg["size"]) == ("structure", "semantic", "dp", 0.25, 200)
    # the pipeline's default splitting vectors are the static ones, with their centring
    from pdfrag.config import Settings
    from pdfrag.pipeline import Pipeline

    cfg = Pipeline(Settings(home=str(tmp_path))).chunker.config()
    assert (cfg["embedder"]["backend"], cfg["threshold"]) == ("static", 0.25)
