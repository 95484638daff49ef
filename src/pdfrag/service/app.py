"""The ASGI app: ``pdfrag serve`` runs it with uvicorn."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pdfrag import __version__
from pdfrag.config import Settings, load_settings
from pdfrag.service.upload import make_router

log = logging.getLogger("pdfrag.service")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    app = FastAPI(title="pdfrag", version=__version__, description="Search and ingestion API over a pdfrag collection.")
    app.state.settings = settings

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": "invalid request", "details": exc.errors()}, status_code=422)

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse({"error": f"internal error: {type(exc).__name__}"}, status_code=500)

    @app.get("/health", tags=["ops"], summary="The process is alive")
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    app.include_router(make_router(settings))
    return app
