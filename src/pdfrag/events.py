"""Prefect events that trigger deployments, sent over plain HTTP.

``pdfrag.object.created`` triggers the ``ingest-object`` deployment (see
prefect.yaml). The event id derives from the object's URI and ETag, so the
same version of an object announced twice is one event.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from typing import Any

import httpx

from pdfrag.errors import TransientError

OBJECT_CREATED = "pdfrag.object.created"
_NS = uuid.UUID("6f1c8f2e-3b1e-4a53-9f0e-2a8d3c1b5e77")


def object_event(uri: str, etag: str = "", size: int | None = None, origin: str = "") -> dict[str, Any]:
    return {
        "id": str(uuid.uuid5(_NS, f"{uri}\n{etag}")),
        "occurred": dt.datetime.now(dt.timezone.utc).isoformat(),
        "event": OBJECT_CREATED,
        "resource": {"prefect.resource.id": f"pdfrag.object.{uri}", "prefect.resource.name": uri.rsplit("/", 1)[-1], "pdfrag.uri": uri},
        "payload": {"uri": uri, "etag": etag, "size": size, "origin": origin},
    }


def emit(events: list[dict[str, Any]], api_url: str | None = None, timeout: float = 10.0) -> None:
    """POST events to the Prefect server's ``/api/events`` (open-source
    Prefect has no inbound webhooks)."""
    if not events:
        return
    url = (api_url or os.environ.get("PREFECT_API_URL", "")).rstrip("/")
    if not url:
        raise TransientError("no Prefect server to send events to", stage="events", hint="set PREFECT_API_URL")
    try:
        r = httpx.post(f"{url}/events", json=events, timeout=timeout)
    except httpx.HTTPError as e:
        raise TransientError(f"cannot reach the Prefect server at {url}: {e}", stage="events") from e
    if r.status_code >= 300:
        raise TransientError(f"the Prefect server refused the events: HTTP {r.status_code} {r.text[:200]}", stage="events")
