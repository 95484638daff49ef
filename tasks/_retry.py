"""Retry policy shared by the tasks: transient infrastructure errors only."""

from __future__ import annotations

import socket

from prefect.tasks import exponential_backoff

from pdfrag.errors import PdfragError

RETRIES = 3
RETRY_DELAYS = exponential_backoff(backoff_factor=2)  # 2, 4, 8 s for retries 1..3
RETRY_JITTER = 0.5


def is_transient(exc: BaseException | None) -> bool:
    if isinstance(exc, PdfragError):
        return exc.retryable
    return isinstance(exc, (ConnectionError, TimeoutError, socket.timeout))


def retry_transient(task, task_run, state) -> bool:  # noqa: ARG001 - Prefect's signature
    """Never retry bad input or schema errors: the same bytes fail the same way."""
    return is_transient(state.data if isinstance(state.data, BaseException) else None)


RETRY = dict(retries=RETRIES, retry_delay_seconds=RETRY_DELAYS, retry_jitter_factor=RETRY_JITTER, retry_condition_fn=retry_transient)
