"""The ASGI app: ``pdfrag serve`` runs it with uvicorn.

``create_app`` checks, before anything is served, that the collection (if it
exists) was built with the configured model, dimension and metric, and raises
``ModelMismatchError`` otherwise; an unreachable Milvus or a collection not
created yet only keep ``/ready`` at 503 until they are there.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from pdfrag import __version__
from pdfrag.config import Settings, load_settings
from pdfrag.service.metrics import Metrics, MetricsMiddleware
from pdfrag.service.models import HealthResponse
from pdfrag.service.routes import make_query_router
from pdfrag.service.security import ApiKeyMiddleware, BodyLimitMiddleware, api_key_scheme
from pdfrag.service.state import QueryService
from pdfrag.service.upload import make_router

log = logging.getLogger("pdfrag.service")

STATIC = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    service = QueryService(settings)
    service.startup_check()  # ModelMismatchError: another embedding space
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        service.embedder.start()
        service.embedder.load_in_background()
        yield
        service.close()

    app = FastAPI(
        title="pdfrag",
        version=__version__,
        description="Search and ingestion API over a pdfrag collection.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.query = service
    app.state.metrics = metrics

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Where and what, without echoing the input back.
        details = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))} for e in exc.errors()]
        return JSONResponse({"error": "invalid request", "details": details}, status_code=422)

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse({"error": f"internal error: {type(exc).__name__}"}, status_code=500)

    @app.get("/health", tags=["ops"], summary="The process is alive", response_model=HealthResponse)
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    auth = [Security(api_key_scheme)]  # documents the header; ApiKeyMiddleware enforces it
    query_router, upload_router = make_query_router(service, metrics), make_router(settings)
    app.include_router(query_router, dependencies=auth)
    app.include_router(upload_router, dependencies=auth)

    def routes() -> list:  # for naming requests answered before routing
        return [r for r in app.routes if getattr(r, "path", None)] + list(query_router.routes) + list(upload_router.routes)

    # Outermost last: CORS (only when origins are set), metrics, API key, body size.
    app.add_middleware(BodyLimitMiddleware, limit=settings.service.max_body_bytes)
    app.add_middleware(ApiKeyMiddleware, keys=settings.service.api_keys)
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=routes)
    if settings.service.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.service.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key"],
        )
    return app
