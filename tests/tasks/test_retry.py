"""Tasks retry transient infrastructure errors only, never bad input."""

from __future__ import annotations

from types import SimpleNamespace

from pdfrag.errors import ConfigError, InputError, ModelMismatchError, TransientError
from pdfrag.tasks._retry import RETRY, is_transient, retry_transient


def _state(exc):
    return SimpleNamespace(data=exc)


def test_transient_errors_are_retried():
    assert retry_transient(None, None, _state(TransientError("Milvus unreachable", stage="index")))
    assert retry_transient(None, None, _state(ConnectionRefusedError()))
    assert retry_transient(None, None, _state(TimeoutError()))


def test_bad_input_and_schema_errors_are_not_retried():
    for exc in (InputError("encrypted", stage="extract"), ConfigError("bad"), ModelMismatchError("other model"), ValueError("x")):
        assert not retry_transient(None, None, _state(exc))
    assert not is_transient(None)


def test_backoff_grows_and_jitters():
    delays = RETRY["retry_delay_seconds"](RETRY["retries"])
    assert RETRY["retries"] == len(delays) == 3
    assert delays == sorted(delays) and delays[0] < delays[-1]
    assert 0 < RETRY["retry_jitter_factor"] <= 1
