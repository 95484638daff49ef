"""Health probe of pdfrag's containers (Docker HEALTHCHECK, Compose
healthchecks, Kubernetes exec probes).

    python /app/probe.py [URL or /path]

GETs the URL (default ``$HEALTHCHECK_URL``, else the service's
``http://127.0.0.1:8000/health``; a bare ``/path`` goes to the service on
``$PDFRAG_SERVICE__PORT``) and exits 0 on a 2xx answer, 1 otherwise. When the
service has API keys (``PDFRAG_SERVICE__API_KEYS``, from a Secret or .env), the
first one is sent as ``X-API-Key``, so ``/ready`` can be probed without the key
ever appearing in a manifest. Standard library only: it runs in a second.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request


def target(argv: list[str]) -> str:
    port = os.environ.get("PDFRAG_SERVICE__PORT", "8000")
    url = argv[1] if len(argv) > 1 else os.environ.get("HEALTHCHECK_URL", "/health")
    return f"http://127.0.0.1:{port}{url}" if url.startswith("/") else url


def api_key() -> str | None:
    raw = os.environ.get("PDFRAG_SERVICE__API_KEYS", "").strip()
    if not raw:
        return None
    try:
        keys = json.loads(raw)
    except ValueError:
        return None
    return next((k for k in keys if isinstance(k, str) and k), None) if isinstance(keys, list) else None


def main(argv: list[str]) -> int:
    url = target(argv)
    headers = {"X-API-Key": key} if (key := api_key()) else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=4) as r:
            return 0 if 200 <= r.status < 300 else 1
    except (urllib.error.URLError, OSError) as e:
        print(f"probe {url}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
