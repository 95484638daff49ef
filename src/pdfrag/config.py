"""Typed configuration: ``PDFRAG_*`` environment variables and one TOML file.

Precedence, highest first: explicit overrides (CLI flags), environment
variables (nested with ``__``, e.g. ``PDFRAG_CHUNK__SIZE=200``), the config
file (``PDFRAG_CONFIG``, else ``$PDFRAG_HOME/config.toml``, else
``./pdfrag.toml``), then the embedded defaults below: Milvus Lite, a local
folder as object store, the packaged all-MiniLM-L6-v2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

DEFAULT_SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", "，", ". ", " ", ""]


class ExtractSettings(BaseModel):
    """PDF → page text."""

    extractor: Literal["pymupdf"] = "pymupdf"
    # Passwords tried, in order, on encrypted PDFs.
    passwords: list[str] = Field(default_factory=list)
    # Per-file passwords: file name (or full source URI) → password.
    password_map: dict[str, str] = Field(default_factory=dict)
    # Pages with fewer visible characters than this count as "no text".
    min_page_chars: int = 1
    # Reading order by XY-cut over text blocks (multi-column pages).
    layout: bool = True
    # Ruled tables kept as data and as Markdown in the page text.
    tables: bool = True
    # Drop running headers, footers and page numbers repeated across pages.
    drop_furniture: bool = True
    # Headings from font size and weight, and a heading path on each block.
    headings: bool = True
    # Lines that the PDF left as blocks of their own (double spacing, many
    # Chinese documents) joined back into their paragraphs.
    join_lines: bool = True
    # OCR for scanned pages and garbage text layers: auto = RapidOCR when the
    # ocr extra is installed; off = report such pages as needing OCR.
    ocr: Literal["auto", "rapidocr", "paddle", "off"] = "auto"
    ocr_dpi: int = Field(200, ge=72, le=600)
    # Layout regions and table structure on OCR pages (rapid-layout, rapid-table).
    ocr_layout: bool = True
    ocr_tables: bool = True
    # Threads of each OCR model's runtime. 0: the machine's cores shared out
    # among the documents extracted at once (runner.workers) in the pipeline,
    # every core for a lone `pdfrag extract`. Models that each take every
    # core run slower side by side than one thread each.
    ocr_threads: int = Field(0, ge=0)
    # For ocr = paddle: a folder with det/ and rec/ PP-OCR models.
    paddle_model_dir: str = ""
    # Seconds one page may take; slower steps (tables, OCR) are skipped for
    # the rest of a page once it is spent.
    page_timeout: float = Field(60.0, gt=0)
    # Extract in worker processes (pdfrag.extract.isolated): a PDF that
    # makes MuPDF loop or crash fails its own file, not the whole run.
    isolate: bool = True
    # Seconds a worker may go without finishing a page before it is killed
    # and the file fails (a hard limit, unlike page_timeout).
    stall_timeout: float = Field(300.0, gt=0)
    # A worker that loaded the OCR models (about 500 MiB with their runtime's
    # buffers) is retired after this many documents in a row without an OCR
    # page, so a corpus with a few scanned files does not carry them to its
    # end; the next OCR page loads them again (a second or two). 0: never.
    ocr_idle_documents: int = Field(4, ge=0)
    # Hand the OCR models' working memory (ONNX Runtime's arenas) back after
    # each detection and recognition call. Kept, it grows with every new
    # page size and line width: a worker that read the corpus's scanned
    # folder twice ended 1.6 GiB above its start, against 0.7 GiB released,
    # for -3 to +20 % time on OCR pages over four paired runs
    # (benchmarks/ocr_memory.py).
    ocr_release_memory: bool = True

    def hash_config(self) -> dict[str, Any]:
        # Passwords decide whether a file opens, not what its text is: keep
        # them out of cache keys (and out of anything written to storage).
        return self.model_dump(
            exclude={"passwords", "password_map", "page_timeout", "paddle_model_dir", "isolate", "stall_timeout", "ocr_threads", "ocr_idle_documents", "ocr_release_memory"}
        )


class ChunkSettings(BaseModel):
    """Pages → chunks. Sizes count the embedding model's tokens (``unit``
    chars: characters, for ``fixed`` and ``recursive``); no chunk ever has
    more tokens than the model takes."""

    # Default: sections by heading, long sections split where the topic
    # changes (README, "Chunking": the best of our chunkers on the public
    # chunking benchmark).
    chunker: Literal["fixed", "recursive", "semantic", "structure"] = "structure"
    size: int = Field(200, ge=8, description="target (and, in tokens, maximum) chunk size")
    overlap: int = Field(32, ge=0, description="overlap between neighbours (fixed, recursive, structure)")
    separators: list[str] = Field(default_factory=lambda: list(DEFAULT_SEPARATORS))
    min_size: int = Field(16, ge=0, description="chunks smaller than this merge into a neighbour")
    unit: Literal["tokens", "chars"] = Field("tokens", description="what size, overlap and min_size count (fixed, recursive)")
    # semantic: where topics change (see pdfrag.chunk.semantic)
    breakpoint: Literal["threshold", "percentile", "stddev", "iqr", "gradient", "dp", "cluster"] = "dp"
    threshold: float | None = Field(None, description="the breakpoint method's parameter; empty: its default")
    window: int = Field(0, ge=0, description="sentences of context on each side of a sentence when embedding it")
    # How semantic splitting embeds its sentences. Their vectors only decide
    # where chunks end and are never stored, so a faster backend than the
    # index's costs nothing in the index: auto = static (token vectors
    # distilled from the model: no forward pass, the chunking benchmark's
    # recall and IoU on par with the model's sentence vectors) for models
    # calibrated for it (all-MiniLM-L6-v2), else onnx-int8 where the index
    # embeds with ONNX Runtime fp32, else the index's own embedder; same =
    # always the index's embedder.
    split_backend: Literal["auto", "same", "static", "torch", "torch-bf16", "torch-fp16", "onnx", "onnx-int8"] = "auto"
    # structure: heading path (and a split table's header) as embedding context;
    # how a section too long for one chunk is split (semantic: by breakpoint above)
    heading_prefix: bool = True
    section_split: Literal["recursive", "semantic"] = "semantic"
    # every chunker: tokens of the surrounding text embedded with each chunk
    # (half before, half after, within the model's input); the chunk stays the span
    context: int = Field(0, ge=0, description="tokens of neighbouring text embedded with each chunk")

    @field_validator("overlap")
    @classmethod
    def _overlap_below_size(cls, v: int, info: Any) -> int:
        size = info.data.get("size", 200)
        if v >= size:
            raise ValueError(f"chunk.overlap ({v}) must be smaller than chunk.size ({size})")
        return v


class EmbedSettings(BaseModel):
    model: str = Field(
        "all-MiniLM-L6-v2", description="all-MiniLM-L6-v2 (English), multilingual-e5-small (Chinese, mixed), or a local model folder"
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # How the model runs (see pdfrag.embed.backends): torch = sentence-
    # transformers fp32; torch-bf16 = the same under bf16 autocast (fast on
    # CPUs with AVX512_BF16 or AMX); torch-fp16 = half precision on a CUDA
    # GPU; onnx / onnx-int8 = ONNX Runtime fp32 / dynamic int8, exported once
    # into models_dir. auto: torch-fp16 on a GPU, onnx-int8 on a CPU with
    # int8 dot products (VNNI or AMX), torch-bf16 on other CPUs with native
    # bf16, else onnx.
    backend: Literal["auto", "torch", "torch-bf16", "torch-fp16", "onnx", "onnx-int8"] = "auto"
    # CPU threads for embedding; 0: one per available core.
    threads: int = Field(0, ge=0)
    # Converted and exported models, named by content hash and so safe to
    # share between homes; empty: $XDG_CACHE_HOME/pdfrag/models (else
    # ~/.cache/pdfrag/models).
    models_dir: str = ""
    # Texts per forward pass; on a GPU at least 1,024 (as many as fit in
    # 2^18 tokens), which embedded 1.8x as fast as 64 on an H200.
    batch_size: int = Field(64, ge=1)
    # Name of the Prefect deployment that embeds on the GPU pool
    # ("embed/embed"); empty embeds in-process, through the same code.
    deployment: str = ""
    # Chunks handed to one embedding run (several documents per batch).
    batch_chunks: int = Field(512, ge=1)
    deployment_timeout: float = Field(3600.0, gt=0)


class IndexSettings(BaseModel):
    # AUTO: exact FLAT on Milvus Lite, HNSW on a Milvus server.
    type: Literal["AUTO", "FLAT", "IVF_FLAT", "IVF_SQ8", "HNSW"] = "AUTO"
    metric: Literal["COSINE", "IP", "L2"] = "COSINE"
    # Build parameters; defaults per type are filled in by pdfrag.index.
    params: dict[str, Any] = Field(default_factory=dict)
    # Search parameters (HNSW ef, IVF nprobe); defaults per type likewise.
    search_params: dict[str, Any] = Field(default_factory=dict)
    # New collections get BM25 full text (hybrid search) where the backend
    # supports it; false: dense only.
    hybrid: bool = True
    # Text analyzer of new collections' full text (pdfrag.index.milvus.
    # analyzer_candidates): auto = segmented on Milvus Lite (pdfrag cuts the
    # Chinese with jieba, Milvus splits words: fast in Python), jieba on a
    # Milvus server (its own, in Rust); standard when jieba is not installed.
    analyzer: Literal["auto", "segmented", "jieba", "standard"] = "auto"
    # Reciprocal rank fusion constant (score = sum of 1 / (rrf_k + rank)).
    rrf_k: int = Field(60, ge=1)


class MilvusSettings(BaseModel):
    # Empty means Milvus Lite at $PDFRAG_HOME/milvus.db; otherwise a URI such
    # as http://127.0.0.1:19530 or a path to another Lite database.
    uri: str = ""
    token: str = ""
    collection: str = "pdfrag"
    insert_batch_rows: int = Field(1000, ge=1, le=1000)
    insert_batch_bytes: int = Field(16 * 1024 * 1024, ge=1024, le=48 * 1024 * 1024)


class StoreSettings(BaseModel):
    # Empty means a local folder at $PDFRAG_HOME/store; else s3://bucket/prefix
    # or a local path.
    uri: str = ""
    endpoint_url: str = ""  # S3-compatible endpoints: MinIO, Ceph RGW...
    region: str = ""


class RunnerSettings(BaseModel):
    """Where the flows' tasks run: threads in the flow's process (default), or
    a Dask or Ray cluster that spreads extraction and chunking over machines."""

    kind: Literal["threads", "dask", "ray"] = "threads"
    workers: int = Field(2, ge=1, description="threads, or local Dask workers when no address is given")
    address: str = Field("", description="Dask scheduler or Ray cluster address; empty starts a local one")


class OrchestrationSettings(BaseModel):
    """Deployments, pools, schedules and limits (see prefect.yaml)."""

    cpu_pool: str = "cpu-pool"
    gpu_pool: str = "gpu-pool"
    refresh_source: str = Field("", description="folder or s3:// prefix the scheduled refresh reconciles")
    refresh_cron: str = "0 2 * * *"
    milvus_write_limit: int = Field(1, ge=1, description="concurrent Milvus writers (global concurrency limit)")
    gpu_embed_limit: int = Field(1, ge=1, description="concurrent embedding runs on the GPU pool")
    upload_bucket: str = Field("", description="bucket that direct uploads (PUT /documents/{name}) go to")
    upload_prefix: str = "incoming/"


class ServiceSettings(BaseModel):
    """The HTTP service (query API, upload endpoint)."""

    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: list[str] = Field(default_factory=list, description="accepted X-API-Key values; empty: no auth")
    max_upload_bytes: int = Field(256 * 1024 * 1024, ge=1)
    cors_origins: list[str] = Field(default_factory=list)
    # Largest request body outside uploads (PUT /documents/{name}).
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    # Seconds a Milvus call of the query API may take.
    milvus_timeout: float = Field(10.0, gt=0)
    # Queries embedded together at most (concurrent requests share a batch).
    embed_batch: int = Field(32, ge=1)
    # CPU threads of the query embedding (torch, in its own worker thread);
    # 0: torch's default (all cores). One thread is as fast for a short query
    # and leaves the other cores to Milvus: several OpenMP threads spin-wait
    # against a busy Milvus and cut throughput by half or more.
    embed_threads: int = Field(1, ge=0)
    # Fuse BM25 full text with the dense vectors when the collection has it;
    # false: dense only.
    hybrid: bool = True
    # Consistency of searches on a Milvus server: Strong sees every indexed
    # document at once but waits for the server's time tick (up to ~200 ms a
    # query); Bounded answers at once, missing at most a few seconds of writes.
    consistency: Literal["Strong", "Bounded", "Session", "Eventually"] = "Strong"


class PrefectSettings(BaseModel):
    # auto: use PREFECT_API_URL when set, else start or reuse a local server
    # under $PDFRAG_HOME/prefect. ephemeral: Prefect's in-process mode (loses
    # most task records; for quick experiments only).
    mode: Literal["auto", "server", "ephemeral"] = "auto"
    port: int = 4200
    host: str = "127.0.0.1"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PDFRAG_",
        env_nested_delimiter="__",
        extra="ignore",
        validate_default=True,
    )

    home: Path = Field(Path(".pdfrag"), description="all local state lives here")
    extract: ExtractSettings = Field(default_factory=ExtractSettings)
    chunk: ChunkSettings = Field(default_factory=ChunkSettings)
    embed: EmbedSettings = Field(default_factory=EmbedSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    milvus: MilvusSettings = Field(default_factory=MilvusSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    prefect: PrefectSettings = Field(default_factory=PrefectSettings)
    runner: RunnerSettings = Field(default_factory=RunnerSettings)
    orchestration: OrchestrationSettings = Field(default_factory=OrchestrationSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    # Short aliases users reach for first.
    model: str | None = Field(None, description="shortcut for embed.model (PDFRAG_MODEL)")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_file_path()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    def model_post_init(self, __context: Any) -> None:
        if self.model:
            self.embed.model = self.model
        self.home = self.home.expanduser().absolute()

    # Resolved locations --------------------------------------------------
    @property
    def store_uri(self) -> str:
        return self.store.uri or str(self.home / "store")

    @property
    def milvus_uri(self) -> str:
        return self.milvus.uri or str(self.home / "milvus.db")

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"


def config_file_path() -> Path | None:
    explicit = os.environ.get("PDFRAG_CONFIG")
    if explicit:
        return Path(explicit)
    home = Path(os.environ.get("PDFRAG_HOME", ".pdfrag"))
    for candidate in (home / "config.toml", Path("pdfrag.toml")):
        if candidate.is_file():
            return candidate
    return None


def load_settings(**overrides: Any) -> Settings:
    """Settings from env + file, with explicit overrides (dotted keys allowed:
    ``{"chunk.size": 128}``)."""
    nested: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        parts = key.split(".")
        d = nested
        for p in parts[:-1]:
            d = d.setdefault(p, {})
        d[parts[-1]] = value
    if not nested:
        return Settings()
    # Merge overrides over what env/file give, section by section.
    base = Settings().model_dump()
    if nested.get("embed", {}).get("model") and "model" not in nested:
        base["model"] = None  # --model beats PDFRAG_MODEL from the environment
    for k, v in nested.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            base[k].update(v)
        else:
            base[k] = v
    return _from_dict(_apply_model_shortcut(base))


def _from_dict(data: dict[str, Any]) -> Settings:
    # Construct without re-reading env/file, so overrides win.
    return Settings.model_construct(**{
        "home": Path(data["home"]).expanduser().absolute(),
        "extract": ExtractSettings.model_validate(data["extract"]),
        "chunk": ChunkSettings.model_validate(data["chunk"]),
        "embed": EmbedSettings.model_validate(data["embed"]),
        "index": IndexSettings.model_validate(data["index"]),
        "milvus": MilvusSettings.model_validate(data["milvus"]),
        "store": StoreSettings.model_validate(data["store"]),
        "prefect": PrefectSettings.model_validate(data["prefect"]),
        "runner": RunnerSettings.model_validate(data["runner"]),
        "orchestration": OrchestrationSettings.model_validate(data["orchestration"]),
        "service": ServiceSettings.model_validate(data["service"]),
        "model": None,
    })


def _apply_model_shortcut(data: dict[str, Any]) -> dict[str, Any]:
    if data.get("model"):
        data["embed"]["model"] = data["model"]
    return data
