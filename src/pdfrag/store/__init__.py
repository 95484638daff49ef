"""Object stores for stage intermediates and run records."""

from __future__ import annotations

from pdfrag.store.base import ObjectStore, stage_object_key
from pdfrag.store.local import LocalStore
from pdfrag.store.s3 import S3Store


def open_store(uri: str, endpoint_url: str = "", region: str = "") -> ObjectStore:
    if uri.startswith("s3://"):
        return S3Store(uri, endpoint_url=endpoint_url, region=region)
    return LocalStore(uri)


__all__ = ["LocalStore", "ObjectStore", "S3Store", "open_store", "stage_object_key"]
