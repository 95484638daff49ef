"""ONNX Runtime backends: fp32, and int8 by dynamic quantization.

The model (encoder plus pooling) is exported from torch once per model and
cached under ``<models_dir>/onnx-<model>-<hash>/``, the hash taken over the
model folder's weights and configuration; ``model.onnx`` is the fp32 graph,
``model.int8.onnx`` its dynamically quantized copy (per-channel int8
weights of every weight matrix product; activations quantized on the fly),
made on first use. Each export is checked against torch before it is kept.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from pdfrag.embed.base import Embedder
from pdfrag.embed.cache import build_file_once, build_once, default_models_dir, file_digest, folder_digest
from pdfrag.embed.profiles import ModelProfile
from pdfrag.embed.tokens import padded
from pdfrag.errors import ConfigError

log = logging.getLogger(__name__)

EXPORT_VERSION = 1
OPSET = 17


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def model_hash(folder: Path) -> str:
    """What the exported graph depends on. Folders pdfrag converted itself
    name their source's hash in ``pdfrag_source.json``; others are hashed."""
    source = folder / "pdfrag_source.json"
    if source.is_file():
        return file_digest(source)
    return folder_digest(folder)


def onnx_dir(profile: ModelProfile, models_dir: Path | None = None) -> Path:
    """The folder holding ``model.onnx`` for ``profile``, exported on first use."""
    src = profile.path
    root = Path(models_dir) if models_dir else default_models_dir()
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in profile.name)
    dest = root / f"onnx-{safe}-{model_hash(src)[:16]}-v{EXPORT_VERSION}"
    return build_once(dest, lambda tmp: export(src, tmp / "model.onnx", profile.pooling), what=f"ONNX export of {profile.name}")


def int8_path(folder: Path) -> Path:
    """``model.int8.onnx`` beside ``model.onnx``, quantized on first use."""
    return build_file_once(folder / "model.int8.onnx", lambda tmp: quantize(folder / "model.onnx", tmp), what="int8 quantization")


def export(model_folder: Path, dest: Path, pooling: str = "mean") -> None:
    """Export the encoder and its pooling to ``dest`` (TorchScript-based
    exporter: the dynamo exporter of torch 2.13 wrote an invalid graph for
    this wrapper), then check it against torch on a padded batch."""
    import torch
    from transformers import AutoModel

    from pdfrag.embed.sentence_transformers import pooled_encoder, quiet_offline_hub

    quiet_offline_hub()
    model = AutoModel.from_pretrained(str(model_folder), attn_implementation="eager", local_files_only=True).eval()
    wrapper = pooled_encoder(model, pooling)
    ids = torch.ones(2, 8, dtype=torch.long)
    mask = torch.ones(2, 8, dtype=torch.long)
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper, (ids, mask), str(dest), input_names=["input_ids", "attention_mask"], output_names=["embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}},
            opset_version=OPSET, dynamo=False,
        )
    _check_export(wrapper, dest, model.config.vocab_size)


def _check_export(wrapper, path: Path, vocab_size: int) -> None:
    import torch

    rng = np.random.default_rng(0)
    lengths = [23, 7, 1]
    ids = np.zeros((3, 23), dtype=np.int64)
    mask = np.zeros((3, 23), dtype=np.int64)
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.integers(5, min(vocab_size, 30000), n)
        mask[i, :n] = 1
    with torch.inference_mode():
        want = wrapper(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    got = _session(path, 1).run(None, {"input_ids": ids, "attention_mask": mask})[0]
    err = float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-6))
    if not err < 1e-3:
        raise ConfigError(f"the ONNX export at {path} does not reproduce torch (relative error {err:.2g})", stage="embed", hint="use embed.backend=torch")


def quantize(src: Path, dest: Path) -> None:
    """Dynamic int8: weights per output channel; activations per tensor at
    run time. ``reduce_range`` keeps weights to 7 bits, which avoids the
    saturation of 8-bit products on CPUs without VNNI."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantizer logs every tensor through the root logger: keep that out
    # of pdfrag's output.
    quiet = _DropFrom("onnxruntime/quantization")
    root = logging.getLogger()
    root.addFilter(quiet)
    try:
        quantize_dynamic(
            str(src), str(dest), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True, op_types_to_quantize=["MatMul"],
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.removeFilter(quiet)


class _DropFrom(logging.Filter):
    def __init__(self, path_part: str) -> None:
        super().__init__()
        self.path_part = path_part

    def filter(self, record: logging.LogRecord) -> bool:
        return self.path_part not in record.pathname.replace(os.sep, "/")


def _session(path: Path, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads or cpu_count()
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


class OnnxEmbedder(Embedder):
    backend: ClassVar[str] = "onnx"
    # Texts × longest² ≤ 2^18: batches of 32 up to 90 tokens, 4 at 256, one
    # at 512. Two cores of a Zen 4, int8, tokens/s by batch size (1 / 4 / 32):
    # multilingual-e5-small at 380 tokens 6,785 / 6,415 / 5,717; at 200
    # tokens 7,948 / 8,500 / 7,168; all-MiniLM-L6-v2 at 256 tokens 11,243 /
    # 14,669 / 12,617, at 128 tokens 11,653 / 12,456 / 16,124.
    max_batch_attention = 1 << 18

    def __init__(self, profile: ModelProfile, int8: bool = False, threads: int = 0, models_dir: Path | str | None = None) -> None:
        self.profile = profile
        self.int8 = int8
        self.backend = "onnx-int8" if int8 else "onnx"  # type: ignore[misc]
        self.threads = threads
        self.models_dir = Path(models_dir) if models_dir else None
        self.device = "cpu"
        self._session = None
        self._tokenizer = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._session is None:
                folder = onnx_dir(self.profile, self.models_dir)
                path = int8_path(folder) if self.int8 else folder / "model.onnx"
                self._tokenizer = padded(str(self.profile.path), self.profile.max_tokens)
                self._session = _session(path, self.threads)
            return self._session, self._tokenizer

    def set_threads(self, threads: int) -> None:
        """A session's thread pool is fixed when it is made: the next call
        makes a new one (a second or so, from the cached export)."""
        with self._lock:
            if threads != self.threads:
                self.threads = threads
                self._session = None

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        session, tok = self._load()
        out = []
        for start in range(0, len(texts), max(batch_size, 1)):
            enc = tok.encode_batch(texts[start : start + batch_size], add_special_tokens=True)
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            out.append(session.run(None, {"input_ids": ids, "attention_mask": mask})[0])
        return np.concatenate(out).astype(np.float32, copy=False)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "max_tokens": self.profile.max_tokens}
