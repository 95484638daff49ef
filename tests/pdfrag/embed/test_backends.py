"""Tests for the embedding backends: the auto rule, backend construction and
its GPU fallbacks, batching by tokens, truncation warnings, embed settings,
and the ONNX Runtime backends against torch on the packaged
all-MiniLM-L6-v2."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from pdfrag.config import EmbedSettings, load_settings
from pdfrag.embed import backends, get_profile, make_embedder
from pdfrag.embed.backends import choose_backend, cpu_flags, resolve_backend
from pdfrag.embed.base import Embedder
from pdfrag.embed.onnx import OnnxEmbedder, onnx_dir
from pdfrag.embed.profiles import ModelProfile
from pdfrag.embed.sentence_transformers import SentenceTransformerEmbedder
from pdfrag.errors import ConfigError

MINILM = "all-MiniLM-L6-v2"


# The auto rule ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cuda", "flags", "want"),
    [
        (True, set(), "torch-fp16"),
        (True, {"amx_bf16", "avx512_bf16"}, "torch-fp16"),
        (False, {"avx2", "avx512f", "avx512_bf16"}, "torch-bf16"),
        (False, {"avx2", "amx_bf16", "amx_tile"}, "torch-bf16"),
        # AMX: int8 as well (2.43x against bf16's 1.79x on a 2-core Xeon)
        (False, {"avx2", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile"}, "onnx-int8"),
        (False, {"avx2", "amx_bf16", "amx_int8", "amx_tile"}, "onnx-int8"),
        # hardware 8-bit dot products (Zen 4/5, Ice Lake, Alder Lake): int8
        (False, {"avx2", "avx512f", "avx512_vnni", "avx512_bf16"}, "onnx-int8"),
        (False, {"avx2", "avx512f", "avx512_vnni"}, "onnx-int8"),
        (False, {"avx2", "avx_vnni"}, "onnx-int8"),
        (False, {"avx2"}, "onnx"),
        (False, set(), "onnx"),
    ],
)
def test_auto_rule(cuda: bool, flags: set[str], want: str) -> None:
    assert choose_backend(cuda, flags) == want


def test_cpu_flags_from_cpuinfo(tmp_path: Path) -> None:
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 amx_bf16 amx_tile\n\nprocessor\t: 1\nflags\t\t: fpu avx2 amx_bf16 amx_tile\n")
    assert cpu_flags(str(x86)) == {"fpu", "avx2", "amx_bf16", "amx_tile"}
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16\n")
    assert cpu_flags(str(arm)) == {"fp", "asimd", "bf16"}
    assert cpu_flags(str(tmp_path / "missing")) == frozenset()
    # this machine's own flags parse (Linux CI); the rule then decides
    assert choose_backend(False, cpu_flags()) in ("torch-bf16", "onnx-int8", "onnx")


def test_resolve_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    for explicit in ("torch", "torch-bf16", "onnx", "onnx-int8"):
        assert resolve_backend(explicit, "cpu") == explicit
    monkeypatch.setattr(backends, "cpu_flags", lambda: frozenset({"avx2", "amx_bf16"}))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_backend("auto", "auto") == "torch-bf16"
    monkeypatch.setattr(backends, "cpu_flags", lambda: frozenset({"avx2"}))
    assert resolve_backend("auto", "auto") == "onnx"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_backend("auto", "auto") == "torch-fp16"
    assert resolve_backend("auto", "cuda") == "torch-fp16"
    # device=cpu keeps a visible GPU out of the choice
    assert resolve_backend("auto", "cpu") == "onnx"


def test_gpu_possible_looks_for_the_drivers_files(tmp_path: Path) -> None:
    mark = tmp_path / "nvidia0"
    assert backends.gpu_possible((str(mark),)) is False
    mark.touch()
    assert backends.gpu_possible((str(tmp_path / "none"), str(mark))) is True


def test_auto_on_a_machine_without_a_gpu_driver_does_not_import_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch's import (1.5-2.5 s) is skipped where no GPU driver is
    installed and torch is not loaded: an ONNX backend never needs it."""
    import subprocess
    import sys

    code = (
        "import sys; from pdfrag.embed import backends; backends.GPU_MARKS = ('/nonexistent/nvidia',); "
        "cuda = backends.cuda_available('auto'); print(cuda, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout.split()
    assert out == ["False", "False"]
    # A driver present, or torch already loaded, or device=cuda: torch is asked.
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(backends, "gpu_possible", lambda: False)
    assert backends.cuda_available("auto") is True  # torch is loaded in this process
    assert backends.cuda_available("cuda") is True
    assert backends.cuda_available("cpu") is False


# Construction (lazy: no weights are loaded here) -----------------------------------


def test_make_embedder_maps_names_to_backends(tmp_path: Path) -> None:
    p = get_profile(MINILM)
    for name, cls, precision in (("torch", SentenceTransformerEmbedder, "fp32"), ("torch-bf16", SentenceTransformerEmbedder, "bf16")):
        e = make_embedder(p, name, device="cpu")
        assert isinstance(e, cls) and e.precision == precision and e.backend == name
    for name, int8 in (("onnx", False), ("onnx-int8", True)):
        e = make_embedder(p, name, device="cpu", models_dir=tmp_path)
        assert isinstance(e, OnnxEmbedder) and e.int8 is int8 and e.backend == name
        assert e.config() == {"backend": name, "model": MINILM, "dimension": 384, "metric": "COSINE", "max_tokens": 256}
    with pytest.raises(ConfigError, match="unknown embedding backend"):
        make_embedder(p, "tensorrt")
    with pytest.raises(ConfigError, match="unknown precision"):
        SentenceTransformerEmbedder(p, device="cpu", precision="int4")
    # nothing was exported or converted by building them
    assert list(tmp_path.iterdir()) == []


def test_fp16_without_a_gpu_runs_fp32_on_the_cpu(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    p = get_profile(MINILM)
    with caplog.at_level(logging.WARNING, logger="pdfrag.embed.sentence_transformers"):
        e = make_embedder(p, "torch-fp16", device="auto")
    assert isinstance(e, SentenceTransformerEmbedder)
    assert (e.device, e.precision, e.backend) == ("cpu", "fp32", "torch")
    assert e.config()["backend"] == "torch"  # the vectors it makes are fp32's
    assert "needs a CUDA GPU" in caplog.text
    with pytest.raises(ConfigError, match="no CUDA device"):
        make_embedder(p, "torch-fp16", device="cuda")


def test_cuda_device_gets_fp16(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    e = make_embedder(get_profile(MINILM), "auto", device="auto")
    assert isinstance(e, SentenceTransformerEmbedder)
    assert (e.device, e.precision, e.backend) == ("cuda", "fp16", "torch-fp16")


# Batching and truncation (a fake backend: no model) --------------------------------


class _Fake(Embedder):
    """Vectors that name their text: row i is (index of the text, 1, 0...)."""

    backend: ClassVar[str] = "fake"

    def __init__(self, texts: list[str], max_tokens: int = 512) -> None:
        self.profile = ModelProfile(name="fake", dimension=4, max_tokens=max_tokens, passage_prefix="p: ")
        self.index = {t: i for i, t in enumerate(texts)}
        self.calls: list[tuple[int, int]] = []

    def token_counts(self, texts: list[str]) -> list[int]:
        return [len(t.split()) + 2 for t in texts]

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        self.calls.append((len(texts), batch_size))
        out = np.zeros((len(texts), 4), dtype=np.float32)
        for r, t in enumerate(texts):
            out[r, 0] = self.index.get(t.removeprefix("p: "), -1) + 1
            out[r, 1] = 1
        return out


def test_long_texts_go_in_smaller_batches_and_order_is_kept() -> None:
    texts = [f"w{i} " * n for i, n in enumerate([5, 500, 3, 250, 500, 1, 120, 7] * 3)]
    fake = _Fake(texts)
    fake.max_batch_tokens = 1024
    v = fake.embed_documents(texts, batch_size=64)
    # batch size per call: 1024 tokens // the longest text of the group
    assert fake.calls[0] == (8, 2)  # 500-word texts (502 tokens): 2 a batch, 4 batches a call
    assert all(bs <= 64 and n <= 4 * bs for n, bs in fake.calls)
    assert sum(n for n, _ in fake.calls) == len(texts)
    # rows come back in input order (vectors normalized: compare directions)
    got = np.rint(v[:, 0] / v[:, 1]).astype(int) - 1
    assert got.tolist() == list(range(len(texts)))


def test_a_model_folder_without_tokenizer_json_still_embeds_in_order() -> None:
    texts = ["a b c", "a " * 50, "", "x y"]
    fake = _Fake(texts)

    def no_tokenizer(texts: list[str]) -> list[int]:
        raise ConfigError("no tokenizer.json in /models/x", stage="chunk")

    fake.token_counts = no_tokenizer  # type: ignore[method-assign]
    v = fake.embed_documents(texts, batch_size=1)
    assert (np.rint(v[:, 0] / v[:, 1]).astype(int) - 1).tolist() == [0, 1, 2, 3]
    assert fake.truncated == 0


def test_texts_over_the_limit_are_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    texts = ["short text", "word " * 30, "word " * 8, "word " * 40]
    fake = _Fake(texts, max_tokens=12)
    with caplog.at_level(logging.WARNING, logger="pdfrag.embed.base"):
        fake.embed_documents(texts)
    assert fake.truncated == 2
    assert "2 of 4 texts are longer than fake's limit of 12 tokens (the longest has 43)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pdfrag.embed.base"):
        fake.embed_queries(["short"])
    assert fake.truncated == 2 and caplog.text == ""


# Settings --------------------------------------------------------------------------


def test_embed_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("PDFRAG_EMBED__BACKEND", "PDFRAG_EMBED__MODELS_DIR", "PDFRAG_MODEL", "PDFRAG_EMBED__MODEL", "PDFRAG_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PDFRAG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    s = load_settings()
    assert (s.embed.backend, s.embed.models_dir) == ("auto", "")
    from pdfrag.embed.cache import default_models_dir

    # one content-addressed cache for every home
    assert default_models_dir() == tmp_path / "cache" / "pdfrag" / "models"
    monkeypatch.setenv("PDFRAG_EMBED__MODELS_DIR", str(tmp_path / "m"))
    assert load_settings().embed.models_dir == str(tmp_path / "m")
    monkeypatch.setenv("PDFRAG_EMBED__BACKEND", "onnx-int8")
    monkeypatch.setenv("PDFRAG_MODEL", "multilingual-e5-small")
    s = load_settings()
    assert (s.embed.backend, s.embed.model) == ("onnx-int8", "multilingual-e5-small")
    # an explicit model (the CLI's --model) beats PDFRAG_MODEL
    assert load_settings(**{"embed.model": MINILM}).embed.model == MINILM
    with pytest.raises(ValueError):
        EmbedSettings(backend="tensorrt")


# ONNX Runtime against torch (integration: exports the packaged model) --------------


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def torch_fp32() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(get_profile(MINILM), device="cpu")


TEXTS = [
    "The cat sits on the mat.",
    "Quarterly revenue of the transformer business grew by ten percent.",
    "东北电气发展股份有限公司2018年第一季度报告",
    "",
    "a long passage about retrieval, embeddings and ranking " * 60,  # over the 256-token limit
]


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.integration
def test_onnx_reproduces_torch_and_is_exported_once(models: Path, torch_fp32: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch) -> None:
    want = torch_fp32.embed_documents(TEXTS)
    emb = OnnxEmbedder(get_profile(MINILM), models_dir=models)
    got = emb.embed_documents(TEXTS, batch_size=2)
    assert got.shape == (5, 384) and got.dtype == np.float32
    assert _cos(got, want).min() > 0.9999
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    q = emb.embed_queries(["Where is the cat?"])
    assert float(q[0] @ got[0]) > float(q[0] @ got[1])
    folder = onnx_dir(get_profile(MINILM), models)
    assert folder.parent == models and (folder / "model.onnx").is_file() and (folder / ".complete").is_file()
    assert folder.name.startswith("onnx-all-MiniLM-L6-v2-")
    # a second embedder (another process, say) loads the cached export
    import pdfrag.embed.onnx as onnx_mod

    def no_export(*a, **k):
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_mod, "export", no_export)
    again = OnnxEmbedder(get_profile(MINILM), models_dir=models).embed_documents(TEXTS[:2])
    np.testing.assert_allclose(again, got[:2], atol=1e-5)
    # the query service's one thread: a new session with one intra-op thread
    emb.set_threads(1)
    one = emb.embed_queries(["Where is the cat?"])
    assert emb._session.get_session_options().intra_op_num_threads == 1
    np.testing.assert_allclose(one, q, atol=1e-5)


def test_torch_threads_are_set_for_the_calling_thread() -> None:
    import threading

    import torch

    e = SentenceTransformerEmbedder(get_profile(MINILM), device="cpu")
    seen = []

    def worker() -> None:
        e.set_threads(1)
        seen.append(torch.get_num_threads())

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [1] and e.threads == 1


@pytest.mark.integration
def test_onnx_int8_stays_close_to_fp32(models: Path, torch_fp32: SentenceTransformerEmbedder) -> None:
    emb = OnnxEmbedder(get_profile(MINILM), int8=True, models_dir=models)
    got = emb.embed_documents(TEXTS[:3] + TEXTS[4:])
    want = torch_fp32.embed_documents(TEXTS[:3] + TEXTS[4:])
    cos = _cos(got, want)
    assert cos.min() > 0.97 and cos.mean() > 0.98, cos
    assert (onnx_dir(get_profile(MINILM), models) / "model.int8.onnx").is_file()
    assert emb.config()["backend"] == "onnx-int8"
    v = emb.embed_documents(["The cat is sitting on the mat.", "A cat sits on a rug.", "Quarterly revenue grew by ten percent."])
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.2


@pytest.mark.integration
def test_bf16_autocast_stays_close_to_fp32(torch_fp32: SentenceTransformerEmbedder) -> None:
    bf16 = SentenceTransformerEmbedder(get_profile(MINILM), device="cpu", precision="bf16")
    texts = TEXTS[:3]
    cos = _cos(bf16.embed_documents(texts), torch_fp32.embed_documents(texts))
    assert cos.min() > 0.99, cos
    assert bf16.config()["backend"] == "torch-bf16"


def test_export_cache_key_follows_weights_and_config(tmp_path: Path) -> None:
    """A changed model gets its own export folder; a README edit does not."""
    import shutil

    from pdfrag.embed.onnx import model_hash

    copy = tmp_path / "copy"
    shutil.copytree(get_profile(MINILM).path, copy)
    p = replace(get_profile(MINILM), resolve_path=lambda: copy)
    h1 = model_hash(copy)
    (copy / "README.md").write_text("edited")
    assert model_hash(copy) == h1
    cfg = (copy / "config.json").read_text()
    (copy / "config.json").write_text(cfg.replace('"layer_norm_eps": 1e-12', '"layer_norm_eps": 1e-11'))
    h2 = model_hash(copy)
    assert h2 != h1
    assert p.path == copy
    # converted folders name their source: that file alone is the key
    (copy / "pdfrag_source.json").write_text('{"sha256": "abc"}')
    h3 = model_hash(copy)
    (copy / "config.json").write_text(cfg)
    assert model_hash(copy) == h3 != h2
