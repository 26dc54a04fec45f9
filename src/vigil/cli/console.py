"""The one console of the CLI: human output on stdout/stderr through rich, JSON as plain text.

The rich consoles are created on first use: importing rich costs start-up time that `--help`, `--version`
and JSON output do not need.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


class _LazyConsole:
    """A rich ``Console`` made when first used. Not on a terminal (pipes, CI logs) it is wide enough that
    nothing is cut to 80 columns."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def _get(self) -> Console:
        if self._console is None:
            from rich.console import Console

            stream = sys.stderr if self._stderr else sys.stdout
            self._console = Console(stderr=self._stderr, highlight=False, soft_wrap=True,
                                    width=None if stream.isatty() else 160)
        return self._console

    @property
    def real(self) -> Console:
        """The rich console itself (what rich objects such as ``Progress(console=...)`` need)."""
        return self._get()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)

    def print(self, *objects: Any, **kwargs: Any) -> None:
        self._get().print(*objects, **kwargs)

    @property
    def is_terminal(self) -> bool:
        """Whether the stream is a terminal (answered without building the console)."""
        stream = sys.stderr if self._stderr else sys.stdout
        return self._console.is_terminal if self._console is not None else stream.isatty()


out = _LazyConsole(stderr=False)
err = _LazyConsole(stderr=True)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an interrupt so that running jobs are marked KILLED and leases handed back."""


_signalled: list[int] = []  # SIGTERM received (typer reports any interrupt as exit code 130: we tell them apart)


def terminated() -> bool:
    return bool(_signalled)


@contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """While inside, SIGTERM interrupts the main thread like Ctrl-C (exit code 143)."""
    def _raise(signum: int, _frame: object) -> None:
        _signalled.append(signum)
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, _raise)
    except ValueError:  # not the main thread (embedded use): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
