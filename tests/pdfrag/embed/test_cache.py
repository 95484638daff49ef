"""Tests for the models cache: folders built once, atomically, under a lock;
content hashes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from pdfrag.embed.cache import DONE, build_file_once, build_once, default_models_dir, file_digest, folder_digest


def test_built_once(tmp_path: Path) -> None:
    calls = []

    def build(tmp: Path) -> None:
        calls.append(tmp)
        (tmp / "model.bin").write_bytes(b"weights")

    dest = tmp_path / "models" / "m-abc"
    assert build_once(dest, build) == dest
    assert (dest / "model.bin").read_bytes() == b"weights" and (dest / DONE).is_file()
    assert build_once(dest, build) == dest
    assert len(calls) == 1
    assert calls[0] != dest  # built elsewhere, then renamed into place
    assert sorted(p.name for p in dest.parent.iterdir() if not p.name.endswith(".lock")) == ["m-abc"]
    assert dest.stat().st_mode & 0o777 == 0o755 and (dest / "model.bin").stat().st_mode & 0o777 == 0o644


def test_failed_build_leaves_nothing(tmp_path: Path) -> None:
    def broken(tmp: Path) -> None:
        (tmp / "half.bin").write_bytes(b"x")
        raise RuntimeError("export failed")

    dest = tmp_path / "m"
    with pytest.raises(RuntimeError, match="export failed"):
        build_once(dest, broken)
    assert not dest.exists()
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []
    # an unfinished folder (no completion marker) is rebuilt, not trusted
    dest.mkdir()
    (dest / "half.bin").write_bytes(b"x")
    build_once(dest, lambda tmp: (tmp / "whole.bin").write_bytes(b"y"))
    assert sorted(p.name for p in dest.iterdir()) == [DONE, "whole.bin"]


def test_concurrent_builders_build_once(tmp_path: Path) -> None:
    calls = []

    def slow(tmp: Path) -> None:
        calls.append(1)
        time.sleep(0.3)
        (tmp / "model.bin").write_bytes(b"w")

    dest = tmp_path / "m"
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(build_once(dest, slow))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert results == [dest] * 4


def test_file_built_once(tmp_path: Path) -> None:
    calls = []

    def write(tmp: Path) -> None:
        calls.append(tmp)
        tmp.write_bytes(b"int8")

    path = tmp_path / "model.int8.onnx"
    assert build_file_once(path, write) == path
    assert build_file_once(path, write) == path
    assert path.read_bytes() == b"int8" and len(calls) == 1 and calls[0] != path
    with pytest.raises(ValueError):
        build_file_once(tmp_path / "other.onnx", lambda tmp: (tmp.write_bytes(b"x"), (_ for _ in ()).throw(ValueError("no")))[1])
    assert not (tmp_path / "other.onnx").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_digests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "w.safetensors"
    f.write_bytes(b"a" * 1000)
    d1 = file_digest(f)
    assert len(d1) == 64 and file_digest(f) == d1
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "README.md").write_text("about")
    fd = folder_digest(tmp_path)
    (tmp_path / "README.md").write_text("changed")
    assert folder_digest(tmp_path) == fd
    f.write_bytes(b"b" * 1001)
    assert file_digest(f) != d1 and folder_digest(tmp_path) != fd
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_models_dir() == tmp_path / "xdg" / "pdfrag" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert default_models_dir() == tmp_path / "user" / ".cache" / "pdfrag" / "models"
