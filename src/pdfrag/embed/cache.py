"""Built model files (converted weights, ONNX exports) cached on disk.

Everything lands in ``<models_dir>/<name>-<hash>/``, named by a hash of what
it was built from, so a changed source builds a new folder and never reuses a
stale one, and one cache serves every pdfrag home on the machine. A folder is built in a temporary sibling and renamed into place
once complete; a file lock makes a second process wait for the first one's
build instead of building it twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

DONE = ".complete"  # written last inside a folder: the build finished


def default_models_dir() -> Path:
    """``$XDG_CACHE_HOME/pdfrag/models``, else ``~/.cache/pdfrag/models``.
    Folders there are named by the hash of what they were built from, so
    every pdfrag home (and every test) on a machine shares one build."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return (Path(base).expanduser() / "pdfrag" / "models").absolute()


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, remembered per (path, size, mtime)."""
    st = path.stat()
    return _digest(str(path.absolute()), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=64)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def folder_digest(folder: Path) -> str:
    """Hash of a model folder's weights and configuration files (what decides
    its outputs), not of its README or other files."""
    h = hashlib.sha256()
    names = sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and (p.suffix in (".safetensors", ".bin", ".json", ".txt", ".model") and p.name != DONE)
        and not p.name.startswith(".")
        and p.name != "README.md"
    )
    for name in names:
        h.update(name.encode() + b"\0" + file_digest(folder / name).encode() + b"\n")
    return h.hexdigest()


@contextmanager
def _locked(lock_path: Path):
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def is_built(folder: Path) -> bool:
    return (folder / DONE).is_file()


def build_once(folder: Path, build: Callable[[Path], None], what: str = "") -> Path:
    """``folder``, built by ``build(tmp)`` unless it exists already.

    ``build`` fills a fresh temporary folder; it is renamed to ``folder``
    only when ``build`` returned, so a crash never leaves half a model where
    a reader would take it for a whole one.
    """
    if is_built(folder):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _locked(folder.parent / f".{folder.name}.lock"):
        if is_built(folder):  # another process built it while we waited
            return folder
        log.info("building %s in %s (once)", what or folder.name, folder)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:
            build(tmp)
            (tmp / DONE).write_text("ok\n")
            _readable(tmp)
            if folder.exists():  # an unfinished folder from an older layout
                shutil.rmtree(folder)
            os.replace(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return folder


def _readable(folder: Path) -> None:
    """mkdtemp makes the folder private (0700), and some writers make files
    0600; a cache other users may read gets the usual 0755/0644."""
    for p in [folder, *folder.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)


def build_file_once(path: Path, build: Callable[[Path], None], what: str = "") -> Path:
    """One file inside an existing folder, written to a temporary name and
    renamed: ``build(tmp_path)`` writes it."""
    if path.is_file():
        return path
    with _locked(path.parent / f".{path.name}.lock"):
        if path.is_file():
            return path
        log.info("building %s at %s (once)", what or path.name, path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            build(tmp)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
    return path
