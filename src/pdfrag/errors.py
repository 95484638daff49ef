"""Errors that name the file, page and stage, and say what the user can do."""

from __future__ import annotations


class PdfragError(Exception):
    """Base error. ``retryable`` marks infrastructure trouble (connection
    refused, timeouts, throttling) as opposed to bad input or bad config."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        stage: str | None = None,
        page: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.stage = stage
        self.page = page
        self.hint = hint
        super().__init__(str(self))

    def __reduce__(self):
        # Picklable across processes (Dask/Ray workers, Prefect results), and
        # without the unpicklable driver exception it may wrap.
        return (_rebuild, (type(self), self.message, self.source, self.stage, self.page, self.hint))

    def __str__(self) -> str:
        where = []
        if self.source:
            where.append(self.source)
        if self.page is not None:
            where.append(f"page {self.page}")
        if self.stage:
            where.append(f"stage {self.stage}")
        text = self.message
        if where:
            text = f"{', '.join(where)}: {text}"
        if self.hint:
            text = f"{text} ({self.hint})"
        return text


def _rebuild(cls, message, source, stage, page, hint):
    return cls(message, source=source, stage=stage, page=page, hint=hint)


class ConfigError(PdfragError):
    """Invalid configuration: the user must change a setting."""


class InputError(PdfragError):
    """The input file itself is unusable (corrupt, encrypted, empty...).

    Never retried: the same bytes fail the same way."""


class ModelMismatchError(ConfigError):
    """The collection was built with another model, dimension or metric."""


class TransientError(PdfragError):
    """A transient infrastructure failure worth retrying with backoff."""

    retryable = True


class StoreError(PdfragError):
    """Object store failure that is not transient (missing bucket, denied)."""
