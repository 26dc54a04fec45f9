"""The one console of the CLI: human output on stdout/stderr through rich, JSON as plain text."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

# Not on a terminal (pipes, CI logs): wide enough that tables are not cut to 80 columns.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True, width=None if sys.stderr.isatty() else 160)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def when(ts: float) -> str:
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
