"""Upload-triggered ingestion: S3 bucket notifications and direct uploads.

- ``POST /events/s3``: the JSON that S3, MinIO and Ceph RGW send on object
  creation. Each created ``.pdf`` object becomes one ``pdfrag.object.created``
  Prefect event; other keys are ignored with a log line.
- ``PUT /documents/{name}``: stores the body in the upload bucket, then emits
  the same event.

The endpoint only enqueues (a plain RGW topic posts synchronously during the
upload), and drops repeats of an object version it has just seen; ingestion
itself is idempotent, and the scheduled refresh reconciles missed events.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any
from urllib.parse import unquote_plus

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from pdfrag import events
from pdfrag.config import Settings
from pdfrag.sources import is_pdf_name

log = logging.getLogger("pdfrag.upload")


class RecentObjects:
    """Object versions announced recently: duplicate deliveries (persistent
    RGW topics retry and may deliver twice) become one event."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, key: str) -> bool:
        with self._lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                return False
            self._seen[key] = None
            if len(self._seen) > self.size:
                self._seen.popitem(last=False)
            return True


def parse_notification(body: dict[str, Any]) -> tuple[list[tuple[str, str, int | None]], list[str]]:
    """(created PDF objects as (uri, etag, size), ignored keys with reasons)."""
    created, ignored = [], []
    for rec in body.get("Records") or []:
        name = str(rec.get("eventName", ""))
        s3 = rec.get("s3") or {}
        bucket = (s3.get("bucket") or {}).get("name", "")
        obj = s3.get("object") or {}
        key = str(obj.get("key", ""))
        # AWS and MinIO URL-encode keys in notifications; Ceph RGW does not.
        if str(rec.get("eventSource", "")).startswith(("aws:", "minio:")):
            key = unquote_plus(key)
        if not name.startswith(("ObjectCreated", "s3:ObjectCreated")):
            ignored.append(f"{bucket}/{key}: event {name}")
            continue
        if not bucket or not key:
            ignored.append(f"record without bucket or key: {name}")
            continue
        if not is_pdf_name(key):
            ignored.append(f"{bucket}/{key}: not a PDF")
            continue
        created.append((f"s3://{bucket}/{key}", str(obj.get("eTag") or obj.get("etag") or "").strip('"'), obj.get("size")))
    return created, ignored


def make_router(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["ingestion"])
    recent = RecentObjects()

    def announce(objects: list[tuple[str, str, int | None]], origin: str) -> list[dict[str, Any]]:
        fresh = [o for o in objects if recent.first_time(f"{o[0]}\n{o[1]}")]
        evs = [events.object_event(uri, etag, size, origin) for uri, etag, size in fresh]
        events.emit(evs)
        for uri, _, _ in fresh:
            log.info("queued ingestion of %s", uri)
        return evs

    @router.post("/events/s3", summary="S3 / MinIO / Ceph bucket notification")
    async def s3_notification(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except Exception as e:  # noqa: BLE001
            raise HTTPException(400, "body is not JSON") from e
        if not isinstance(body, dict):
            raise HTTPException(400, "expected an S3 notification object with Records")
        created, ignored = parse_notification(body)
        for reason in ignored:
            log.info("ignored %s", reason)
        evs = await run_in_threadpool(announce, created, "s3-notification")
        return JSONResponse({"queued": [e["payload"]["uri"] for e in evs], "duplicates": len(created) - len(evs), "ignored": ignored})

    @router.put("/documents/{name}", status_code=202, summary="Upload a PDF into the bucket and ingest it")
    async def upload(name: str, request: Request) -> JSONResponse:
        o = settings.orchestration
        if not o.upload_bucket:
            raise HTTPException(503, "uploads are not configured (set PDFRAG_ORCHESTRATION__UPLOAD_BUCKET)")
        if "/" in name or name.startswith(".") or not name.strip():
            raise HTTPException(400, "name must be a plain file name")
        if not is_pdf_name(name):
            raise HTTPException(415, "only .pdf files are ingested")
        length = request.headers.get("content-length")
        if length and int(length) > settings.service.max_upload_bytes:
            raise HTTPException(413, f"upload larger than {settings.service.max_upload_bytes} bytes")
        data = await request.body()
        if len(data) > settings.service.max_upload_bytes:
            raise HTTPException(413, f"upload larger than {settings.service.max_upload_bytes} bytes")
        from pdfrag.store.s3 import make_s3_client

        key = f"{o.upload_prefix}{name}"
        client = make_s3_client(settings.store.endpoint_url, settings.store.region)
        try:
            # Off the event loop: a Ceph RGW topic posts its notification to
            # this very service while the PUT is in flight.
            res = await run_in_threadpool(client.put_object, Bucket=o.upload_bucket, Key=key, Body=data, ContentType="application/pdf")
        except Exception as e:  # noqa: BLE001
            log.warning("upload of %s failed: %s", key, e)
            raise HTTPException(502, f"could not store the file in s3://{o.upload_bucket}: {type(e).__name__}") from e
        uri = f"s3://{o.upload_bucket}/{key}"
        etag = str(res.get("ETag", "")).strip('"')
        evs = await run_in_threadpool(announce, [(uri, etag, len(data))], "upload")
        return JSONResponse({"uri": uri, "etag": etag, "queued": bool(evs)}, status_code=202)

    return router
