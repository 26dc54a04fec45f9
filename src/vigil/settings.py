"""Settings read from environment variables, parsed and checked in one place.

Commands call :func:`check_environment` when they start, so a bad value (``VIGIL_FRAME_CACHE_MB=abc``) fails
at once with a one-line error naming the variable, instead of late, deep inside a job. Light on purpose (no
third-party imports): the CLI calls it before every command.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from vigil.errors import ConfigError

FRAME_CACHE_MB = "VIGIL_FRAME_CACHE_MB"
STDIN_MAX_MB = "VIGIL_STDIN_MAX_MB"
DEFAULT_FRAME_CACHE_MB = 256
DEFAULT_STDIN_MAX_MB = 4096  # a stray `cat /dev/zero | vigil put ...` stops at 4 GiB instead of filling the disk


def megabytes(name: str, default: float, environ: Mapping[str, str] | None = None) -> int:
    """The byte count given in megabytes by variable ``name`` (``default`` when unset or empty); 0 or more.
    Raises :class:`ConfigError` naming the variable for anything else."""
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    if not raw:
        return int(default * (1 << 20))
    try:
        mb = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number of megabytes",
                          f"set {name} to a number such as {default:g}, or unset it") from None
    if not mb >= 0 or mb == float("inf"):  # also refuses nan
        raise ConfigError(f"{name}={raw!r} must be a finite number >= 0", f"set {name} to e.g. {default:g}")
    return int(mb * (1 << 20))


def frame_cache_bytes(environ: Mapping[str, str] | None = None) -> int:
    """Memory for decoded frames shared between validate and detect (0: off)."""
    return megabytes(FRAME_CACHE_MB, DEFAULT_FRAME_CACHE_MB, environ)


def stdin_max_bytes(environ: Mapping[str, str] | None = None) -> int:
    """The most bytes ``vigil put ... -`` reads from stdin before refusing the upload."""
    return megabytes(STDIN_MAX_MB, DEFAULT_STDIN_MAX_MB, environ)


CHECKS: dict[str, Callable[[Mapping[str, str] | None], object]] = {
    FRAME_CACHE_MB: frame_cache_bytes,
    STDIN_MAX_MB: stdin_max_bytes,
}


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """Parse every Vigil environment variable that has a format; raise :class:`ConfigError` on the first bad
    one."""
    for check in CHECKS.values():
        check(environ)
