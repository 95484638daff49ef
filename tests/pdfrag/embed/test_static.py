"""The static backend: all-MiniLM-L6-v2's token table, built once into the
models cache beside the ONNX export, and the vectors it gives."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from pdfrag.embed import get_profile, make_embedder
from pdfrag.embed.static import STATIC_VERSION, StaticEmbedder, common_direction, static_table_path, word_weights
from pdfrag.embed.tokens import _load

pytestmark = pytest.mark.integration  # builds (or reads) the table from the packaged model

MINILM = "all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def static() -> StaticEmbedder:
    e = make_embedder(get_profile(MINILM), "static")
    assert isinstance(e, StaticEmbedder)
    return e


def test_the_table_has_a_row_per_token_and_is_built_once(static: StaticEmbedder, monkeypatch: pytest.MonkeyPatch) -> None:
    table = static.table
    vocab = _load(str(get_profile(MINILM).path)).get_vocab_size()
    assert table.shape == (vocab, 384) and table.dtype == np.float16
    assert np.isfinite(table).all()
    path = static_table_path(get_profile(MINILM))
    assert path.name == f"static-v{STATIC_VERSION}.npy" and (path.parent / "model.onnx").is_file()
    import pdfrag.embed.static as static_mod

    def no_build(*a, **k):
        raise AssertionError("built again")

    monkeypatch.setattr(static_mod, "build_table", no_build)
    again = StaticEmbedder(get_profile(MINILM)).embed_queries(["A cat on a mat."])
    np.testing.assert_array_equal(again, static.embed_queries(["A cat on a mat."]))


def test_word_weights_follow_the_vocabulary_order_of_words_only() -> None:
    tokens = ["[PAD]", "[CLS]", "!", "a", "the", "of", "##ing", "##s", "▁and", "<s>", "x"]
    w = word_weights(tokens, specials={1})
    assert w.tolist() == [0, 0, 0, 0, 1, 1 / 2, 1 / 3, 0, 1 / 4, 0, 0]
    table = np.eye(len(tokens), dtype=np.float32)
    d = common_direction(table, w)
    np.testing.assert_allclose(d, w / np.linalg.norm(w), rtol=1e-6)
    assert not common_direction(table, np.zeros(len(tokens))).any()


def test_the_table_has_no_component_along_the_common_direction(static: StaticEmbedder) -> None:
    """What every text shares was taken out: the prior's mean row is ~0
    against the rows' own size."""
    tok = _load(str(get_profile(MINILM).path))
    w = word_weights([tok.id_to_token(i) or "" for i in range(tok.get_vocab_size())], set(tok.encode("", add_special_tokens=True).ids))
    table = static.table.astype(np.float64)
    mean = w @ table / w.sum()
    assert np.linalg.norm(mean) < 0.01 * np.median(np.linalg.norm(table, axis=1))


def test_vectors_are_unit_length_means_of_token_rows_with_no_length_limit(static: StaticEmbedder, caplog: pytest.LogCaptureFixture) -> None:
    texts = ["The cat sits on the mat.", "", "retrieval and ranking " * 400, "东北电气发展股份有限公司"]
    with caplog.at_level(logging.WARNING):
        v = static.embed_documents(texts)
    assert v.shape == (4, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v[[0, 2, 3]], axis=1), 1.0, atol=1e-5)
    assert not v[1].any()  # no tokens, no direction
    assert not caplog.records and static.truncated == 0  # a long text is not cut
    ids = _load(str(get_profile(MINILM).path)).encode(texts[0], add_special_tokens=False).ids
    want = static.table[ids].astype(np.float32).mean(axis=0)
    np.testing.assert_allclose(v[0], want / np.linalg.norm(want), atol=1e-5)
    np.testing.assert_allclose(static.embed_queries(texts[:1]), v[:1])  # no prefixes either way


def test_related_sentences_are_closer_than_unrelated_ones(static: StaticEmbedder) -> None:
    v = static.embed_queries([
        "Photosynthesis converts light into chemical energy in plants.",
        "Chlorophyll in the leaves absorbs sunlight.",
        "The stock market fell sharply on Monday.",
        "Investors sold shares amid fears of inflation.",
    ])
    sims = v @ v.T
    assert sims[0, 1] > sims[0, 2] + 0.2 and sims[2, 3] > sims[1, 3] + 0.2


def test_config_names_the_backend_and_the_table_version(static: StaticEmbedder) -> None:
    cfg = static.config()
    assert cfg["backend"] == "static" and cfg["static"] == STATIC_VERSION and cfg["model"] == MINILM
