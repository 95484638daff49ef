"""Progress reporting hook. The CLI installs a reporter with progress bars
(stderr, TTY only); inside a deployment the default does nothing and the
Prefect UI shows progress through artifacts instead."""

from __future__ import annotations


class Reporter:
    def start(self, total_files: int, total_work: int = 0) -> None: ...

    def file_done(self, name: str, status: str) -> None: ...

    def stop(self) -> None: ...


_current: Reporter = Reporter()


def reporter() -> Reporter:
    return _current


def install(r: Reporter | None) -> None:
    global _current
    _current = r or Reporter()
