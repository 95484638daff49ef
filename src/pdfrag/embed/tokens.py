"""The embedding model's own tokenizer, without loading the model (no torch)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from tokenizers import Tokenizer

from pdfrag.embed.profiles import ModelProfile
from pdfrag.errors import ConfigError


class ModelTokenizer:
    """Counts tokens as the model sees them. ``budget`` is how many content
    tokens fit in one model input once the special tokens are added."""

    def __init__(self, profile: ModelProfile) -> None:
        self.profile = profile
        self._tok = _load(str(profile.path))
        self.special = len(self._tok.encode("", add_special_tokens=True).ids)
        prefix = len(self._tok.encode(profile.passage_prefix, add_special_tokens=False).ids) if profile.passage_prefix else 0
        self.budget = profile.max_tokens - self.special - prefix

    def count(self, text: str) -> int:
        """Content tokens (no special tokens)."""
        return len(self._tok.encode(text, add_special_tokens=False).ids)

    def count_batch(self, texts: list[str]) -> list[int]:
        return [len(e.ids) for e in self._tok.encode_batch(texts, add_special_tokens=False)]

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of every content token, in order."""
        return [o for o in self._tok.encode(text, add_special_tokens=False).offsets]


@lru_cache(maxsize=8)
def _load(model_dir: str) -> Tokenizer:
    path = Path(model_dir) / "tokenizer.json"
    if not path.is_file():
        raise ConfigError(f"no tokenizer.json in {model_dir}", stage="chunk", hint="the model folder needs a fast tokenizer file")
    tok = Tokenizer.from_file(str(path))
    tok.no_truncation()
    tok.no_padding()
    return tok


@lru_cache(maxsize=8)
def padded(model_dir: str, max_tokens: int) -> Tokenizer:
    """The model's tokenizer set up for inference: each text cut to
    ``max_tokens`` (special tokens included), each batch padded to its
    longest text with the vocabulary's pad token."""
    tok = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    tok.enable_truncation(max_tokens)
    pad_id = tok.token_to_id("<pad>")
    if pad_id is None:
        pad_id = tok.token_to_id("[PAD]") or 0
    tok.enable_padding(pad_id=pad_id)
    return tok
