"""Object store on a local folder (the default, under $PDFRAG_HOME/store)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pdfrag.errors import StoreError
from pdfrag.store.base import ObjectStore


class LocalStore(ObjectStore):
    def __init__(self, root: str | Path) -> None:
        self.path = Path(root).expanduser().absolute()
        self.root = str(self.path)

    def _p(self, key: str) -> Path:
        p = (self.path / key).resolve()
        if self.path.resolve() not in p.parents and p != self.path.resolve():
            raise StoreError(f"key {key!r} escapes the store root {self.root}")
        return p

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._p(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError) as e:
            raise StoreError(f"object {key!r} not found in {self.root}") from e

    def put_bytes(self, key: str, data: bytes) -> None:
        p = self._p(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".tmp-", suffix=p.suffix)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, p)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def exists(self, key: str) -> bool:
        return self._p(key).is_file()

    def delete(self, key: str) -> None:
        self._p(key).unlink(missing_ok=True)

    def list(self, prefix: str = "") -> Iterator[str]:
        base = self.path
        if not base.exists():
            return iter(())
        keys = []
        for p in base.rglob("*"):
            if p.is_file() and not p.name.startswith(".tmp-"):
                k = p.relative_to(base).as_posix()
                if k.startswith(prefix):
                    keys.append(k)
        return iter(sorted(keys))

    def uri(self, key: str) -> str:
        return str(self.path / key)

    def check(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the store folder {self.root}: {e}", hint="set PDFRAG_STORE__URI") from e
