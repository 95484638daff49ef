"""Tests for pdfrag.config: embedded defaults, PDFRAG_* variables, the TOML
file and explicit overrides, in that order of precedence (lowest first)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pdfrag.config import DEFAULT_SEPARATORS, ChunkSettings, ExtractSettings, Settings, config_file_path, load_settings


@pytest.fixture()
def cfg_home(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # No ./pdfrag.toml from the current folder may leak in either.
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return home


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_embedded_ones(cfg_home: Path) -> None:
    assert config_file_path() is None
    s = Settings()
    assert s.home == cfg_home.absolute()
    assert s.milvus_uri == str(cfg_home / "milvus.db")
    assert s.milvus_uri.endswith("milvus.db")
    assert Path(s.milvus_uri).parent == s.home
    assert s.store_uri == str(cfg_home / "store")
    assert Path(s.store_uri).is_relative_to(s.home)
    assert s.prefect_home == cfg_home / "prefect"
    assert s.embed.model == "all-MiniLM-L6-v2"
    assert s.embed.device == "auto"
    assert s.index.type == "AUTO"
    assert s.index.metric == "COSINE"
    assert s.milvus.collection == "pdfrag"
    assert s.milvus.uri == "" and s.store.uri == ""
    assert s.chunk.size == 200 and s.chunk.overlap == 32
    assert s.chunk.separators == DEFAULT_SEPARATORS
    assert s.extract.passwords == [] and s.extract.password_map == {}
    assert s.model is None


def test_home_is_made_absolute(cfg_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDFRAG_HOME", "relative/home")
    s = Settings()
    assert s.home.is_absolute()
    assert s.home == (Path.cwd() / "relative" / "home")
    assert s.milvus_uri == str(Path.cwd() / "relative" / "home" / "milvus.db")


def test_env_vars_flat_and_nested(cfg_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDFRAG_CHUNK__SIZE", "128")
    monkeypatch.setenv("PDFRAG_CHUNK__OVERLAP", "16")
    monkeypatch.setenv("PDFRAG_INDEX__METRIC", "IP")
    monkeypatch.setenv("PDFRAG_MILVUS__URI", "http://milvus.example:19530")
    monkeypatch.setenv("PDFRAG_STORE__URI", "s3://bucket/prefix")
    monkeypatch.setenv("PDFRAG_EXTRACT__PASSWORDS", '["1234", "foo"]')
    s = Settings()
    assert s.chunk.size == 128 and isinstance(s.chunk.size, int)
    assert s.chunk.overlap == 16
    assert s.index.metric == "IP"
    assert s.milvus_uri == "http://milvus.example:19530"
    assert s.store_uri == "s3://bucket/prefix"
    assert s.extract.passwords == ["1234", "foo"]
    # untouched nested fields keep their defaults
    assert s.chunk.min_size == 16
    assert s.index.type == "AUTO"


def test_env_var_invalid_value_is_rejected(cfg_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDFRAG_INDEX__METRIC", "HAMMING")
    with pytest.raises(ValidationError):
        Settings()


def test_model_shortcut_env(cfg_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDFRAG_MODEL", "some-other-model")
    s = Settings()
    assert s.model == "some-other-model"
    assert s.embed.model == "some-other-model"
    # the shortcut survives load_settings with unrelated overrides
    s2 = load_settings(**{"chunk.size": 100})
    assert s2.embed.model == "some-other-model"
    assert s2.chunk.size == 100


def test_toml_file_via_pdfrag_config(cfg_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(
        tmp_path / "conf" / "my.toml",
        """
[chunk]
size = 120
overlap = 10

[milvus]
collection = "papers"

[extract]
passwords = ["pw1"]
password_map = { "secret.pdf" = "pw2" }
""",
    )
    monkeypatch.setenv("PDFRAG_CONFIG", str(path))
    assert config_file_path() == path
    s = Settings()
    assert s.chunk.size == 120 and s.chunk.overlap == 10
    assert s.milvus.collection == "papers"
    assert s.extract.passwords == ["pw1"]
    assert s.extract.password_map == {"secret.pdf": "pw2"}
    assert s.embed.model == "all-MiniLM-L6-v2"  # not in the file: default


def test_toml_file_found_in_home(cfg_home: Path) -> None:
    path = _write(cfg_home / "config.toml", '[milvus]\ncollection = "from_home"\n')
    assert config_file_path() == path
    assert Settings().milvus.collection == "from_home"


def test_toml_file_found_in_cwd(cfg_home: Path) -> None:
    _write(Path.cwd() / "pdfrag.toml", '[milvus]\ncollection = "from_cwd"\n')
    assert config_file_path() == Path("pdfrag.toml")
    assert Settings().milvus.collection == "from_cwd"


def test_env_beats_file(cfg_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "c.toml", '[chunk]\nsize = 120\noverlap = 10\n[milvus]\ncollection = "file"\n')
    monkeypatch.setenv("PDFRAG_CONFIG", str(path))
    monkeypatch.setenv("PDFRAG_MILVUS__COLLECTION", "env")
    monkeypatch.setenv("PDFRAG_CHUNK__OVERLAP", "20")
    s = Settings()
    assert s.milvus.collection == "env"
    assert s.chunk.overlap == 20
    assert s.chunk.size == 120  # the file still gives what the env does not


def test_load_settings_without_overrides_reads_env(cfg_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDFRAG_CHUNK__SIZE", "150")
    assert load_settings().chunk.size == 150
    # None values are "not given"
    assert load_settings(**{"chunk.size": None}).chunk.size == 150


def test_load_settings_dotted_overrides_beat_env_and_file(cfg_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "c.toml", '[milvus]\ncollection = "file"\n[index]\ntype = "HNSW"\n')
    monkeypatch.setenv("PDFRAG_CONFIG", str(path))
    monkeypatch.setenv("PDFRAG_CHUNK__SIZE", "150")
    monkeypatch.setenv("PDFRAG_CHUNK__OVERLAP", "20")
    monkeypatch.setenv("PDFRAG_EMBED__BATCH_SIZE", "8")
    s = load_settings(**{"chunk.size": 64, "milvus.collection": "cli", "embed.model": "x-model", "home": str(tmp_path / "h2")})
    assert isinstance(s, Settings)
    assert s.chunk.size == 64  # override beats env
    assert s.chunk.overlap == 20  # env kept where not overridden
    assert s.embed.batch_size == 8
    assert s.embed.model == "x-model"
    assert s.milvus.collection == "cli"  # override beats file
    assert s.index.type == "HNSW"  # file kept where not overridden
    assert s.home == (tmp_path / "h2").absolute()
    assert s.milvus_uri == str(tmp_path / "h2" / "milvus.db")


def test_load_settings_override_values_are_validated(cfg_home: Path) -> None:
    s = load_settings(**{"chunk.size": "96"})
    assert s.chunk.size == 96
    with pytest.raises(ValidationError):
        load_settings(**{"index.metric": "HAMMING"})
    with pytest.raises(ValidationError):
        load_settings(**{"milvus.insert_batch_rows": 0})


def test_load_settings_model_shortcut_override(cfg_home: Path) -> None:
    assert load_settings(model="other-model").embed.model == "other-model"


def test_overlap_not_below_size_is_rejected(cfg_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="overlap"):
        ChunkSettings(size=50, overlap=50)
    with pytest.raises(ValidationError, match="overlap"):
        ChunkSettings(size=50, overlap=80)
    assert ChunkSettings(size=50, overlap=49).overlap == 49
    # the default overlap (32) against a smaller size
    with pytest.raises(ValidationError, match="overlap"):
        load_settings(**{"chunk.size": 16})
    monkeypatch.setenv("PDFRAG_CHUNK__OVERLAP", "300")
    with pytest.raises(ValidationError, match="overlap"):
        Settings()


def test_chunk_size_lower_bound(cfg_home: Path) -> None:
    with pytest.raises(ValidationError):
        ChunkSettings(size=4, overlap=0)


def test_passwords_stay_out_of_hash_config() -> None:
    a = ExtractSettings(passwords=["secret"], password_map={"f.pdf": "x"})
    b = ExtractSettings()
    assert a.hash_config() == b.hash_config()
    assert "secret" not in repr(a.hash_config())
    assert ExtractSettings(min_page_chars=5).hash_config() != b.hash_config()


def test_releasing_ocr_memory_is_on_by_default_and_outside_cache_keys(cfg_home: Path, monkeypatch) -> None:
    assert ExtractSettings().ocr_release_memory is True
    assert ExtractSettings(ocr_release_memory=False).hash_config() == ExtractSettings().hash_config()  # what is read is the same
    monkeypatch.setenv("PDFRAG_EXTRACT__OCR_RELEASE_MEMORY", "false")
    assert load_settings().extract.ocr_release_memory is False
