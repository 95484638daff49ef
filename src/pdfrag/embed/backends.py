"""Which backend runs the model: the ``auto`` rule.

- A CUDA GPU: ``torch-fp16``. On an H200 it embedded all-MiniLM-L6-v2 at
  1.16M tokens/s in batches of 256 against 0.90M for fp32 and 1.14M for
  bf16, multilingual-e5-small at 2,008 passages/s against 1,172 and 1,504,
  with nDCG@10 within 0.0001 of fp32 (benchmarks/results/embedding-h200.md).
- A CPU with native bf16 (the ``avx512_bf16`` or ``amx_bf16`` flag in
  /proc/cpuinfo): ``torch-bf16``. On that machine's 16-core Xeon (AMX) bf16
  autocast ran 1.84× and 2.10× as fast as fp32 in two runs, and its nDCG@10
  on the chunking_eval questions was 0.0001 under fp32's.
- Any other CPU: ``onnx`` (ONNX Runtime fp32): the same vectors as torch
  fp32 (cosine 1.0000) and 1.05× as fast on an idle 2-core AMD EPYC
  (benchmarks/results/embedding.md). bf16 there runs through emulation,
  many times slower than fp32; int8 (``onnx-int8``) is faster still but
  lost 0.0078 nDCG@10 there, so it is never chosen by itself.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

NATIVE_BF16 = frozenset({"avx512_bf16", "amx_bf16"})


@lru_cache(maxsize=1)
def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo is unreadable)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def has_native_bf16(flags: frozenset[str] | set[str]) -> bool:
    return bool(NATIVE_BF16 & set(flags))


def choose_backend(cuda: bool, flags: frozenset[str] | set[str]) -> str:
    """The ``auto`` rule (see the module docstring)."""
    if cuda:
        return "torch-fp16"
    if has_native_bf16(flags):
        return "torch-bf16"
    return "onnx"


def resolve_backend(backend: str, device: str) -> str:
    """The backend that ``auto`` stands for on this machine, given the
    configured device (``cpu`` keeps a GPU out of the choice)."""
    if backend != "auto":
        return backend
    cuda = False
    if device in ("auto", "cuda"):
        import torch

        cuda = torch.cuda.is_available()
    return choose_backend(cuda, cpu_flags())
