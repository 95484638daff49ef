"""Which backend runs the model: the ``auto`` rule.

- A CUDA GPU: ``torch-fp16``. On an H200 it embedded all-MiniLM-L6-v2 at
  1.16M tokens/s in batches of 256 against 0.90M for fp32 and 1.14M for
  bf16, multilingual-e5-small at 2,008 passages/s against 1,172 and 1,504,
  with nDCG@10 within 0.0001 of fp32 (benchmarks/results/embedding-h200.md).
- A CPU with int8 dot-product instructions (``avx512_vnni``, ``avx_vnni``
  or ``amx_int8``, AMX machines included): ``onnx-int8``.

  - On a 2-core AMD EPYC (Zen 4: AVX512_VNNI and AVX512_BF16) it embedded
    2.49× as fast as sentence-transformers fp32, against 1.70× for bf16
    autocast and 1.34× for ONNX fp32 (benchmarks/results/embedding-zen4.md).
  - On a 2-core Xeon with AMX, 2.43× against 1.79× for bf16 autocast in the
    embedding benchmark; on 1,161 chunks of 20-150 words in batches of 64,
    about 11,900 tokens/s against 9,900 for bf16 and 5,400 for fp32, with
    700 MiB less memory than torch (benchmarks/results/embedding-xeon-amx.md).
  - On a lent machine's 16-core Xeon with AMX the two were even: bf16
    1.84× and 2.10× in two runs, int8 1.93× in one. Until 2026-12-01 ``auto``
    took bf16 on AMX from those runs alone.
  - Retrieval: nDCG@10 over all 472 chunking_eval questions and 1,595
    passages 0.0041 under fp32's (bf16: within 0.0006); over the 276
    questions of three corpora alone (222 passages) 0.0088 under it;
    multilingual-e5-small's Chinese nDCG@10 0.9405 against 0.9390. Set
    ``torch-bf16`` for vectors equal to fp32's where the CPU has native bf16.
- A CPU with native bf16 but no VNNI (``avx512_bf16``): ``torch-bf16``.
- Any other CPU: ``onnx`` (ONNX Runtime fp32): the same vectors as torch
  fp32 (cosine 1.0000) and 1.05× as fast on an idle 2-core AMD EPYC with
  AVX2 only. bf16 there runs through emulation, many times slower than
  fp32. int8 was 1.54× as fast there (1.46× ONNX fp32), a smaller gain than
  with VNNI for the same small loss on the three-corpus questions, and its
  full-set retrieval was not measured on such a CPU: it is not chosen there
  by itself.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

NATIVE_BF16 = frozenset({"avx512_bf16", "amx_bf16"})
INT8_DOT = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


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


def has_int8_dot(flags: frozenset[str] | set[str]) -> bool:
    """8-bit products summed in hardware (VNNI or AMX), not emulated."""
    return bool(INT8_DOT & set(flags))


def choose_backend(cuda: bool, flags: frozenset[str] | set[str]) -> str:
    """The ``auto`` rule (see the module docstring)."""
    flags = set(flags)
    if cuda:
        return "torch-fp16"
    if has_int8_dot(flags):
        return "onnx-int8"
    if has_native_bf16(flags):
        return "torch-bf16"
    return "onnx"


# What a machine with an NVIDIA driver has (a container given a GPU, WSL 2):
# without any of them torch cannot see a CUDA device.
GPU_MARKS = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg")


def gpu_possible(marks: tuple[str, ...] | None = None) -> bool:
    """Whether this machine may have a CUDA GPU: its driver's files exist."""
    return any(Path(m).exists() for m in (GPU_MARKS if marks is None else marks))


def cuda_available(device: str = "auto") -> bool:
    """Whether torch sees a CUDA GPU. Importing torch costs 1.5-2.5 s of
    start-up, which a CPU machine on an ONNX backend never needs: where no
    GPU driver is installed (``gpu_possible``) and torch is not loaded yet,
    the answer is no without it (``device = cuda`` always asks torch)."""
    if device == "cpu":
        return False
    if device != "cuda" and "torch" not in sys.modules and not gpu_possible():
        return False
    import torch

    return bool(torch.cuda.is_available())


def resolve_backend(backend: str, device: str) -> str:
    """The backend that ``auto`` stands for on this machine, given the
    configured device (``cpu`` keeps a GPU out of the choice)."""
    if backend != "auto":
        return backend
    return choose_backend(cuda_available(device), cpu_flags())
