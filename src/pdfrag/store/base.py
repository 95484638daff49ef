"""Object store interface: bytes under string keys, local folder or S3."""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq


class ObjectStore(ABC):
    """Keys are ``/``-separated relative paths (``pages/ab/abcd....parquet``)."""

    root: str

    @abstractmethod
    def get_bytes(self, key: str) -> bytes: ...

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None:
        """Write atomically: readers see the old object or the new one."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> None: ...

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys under ``prefix``, sorted."""

    @abstractmethod
    def uri(self, key: str) -> str: ...

    def check(self) -> None:
        """Fail early, with a clear message, if the store is unusable."""

    # Parquet helpers ---------------------------------------------------
    def put_table(self, key: str, table: pa.Table) -> None:
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        self.put_bytes(key, buf.getvalue())

    def get_table(self, key: str) -> pa.Table:
        return pq.read_table(io.BytesIO(self.get_bytes(key)))


def stage_object_key(stage: str, key: str, ext: str = "parquet") -> str:
    """``<stage>/<first two hex>/<key>.<ext>``: fans keys out over folders."""
    return f"{stage}/{key[:2]}/{key}.{ext}"
