"""Which camera took an image, and when: parsed from the file name, a JSON sidecar, or EXIF.

File names (the 2017 convention, extended with an optional tenant)::

    <device>_<unix seconds>.<ext>            dev1_1511891098.jpg
    <tenant>-<device>_<unix seconds>.<ext>   acme-dev1_1511891098.jpg

Grammar (ASCII only, matched against the whole base name; a directory part up to the last ``/`` is dropped):

- ``tenant``: ``[A-Za-z0-9][A-Za-z0-9._]*``, no ``-``: the tenant separator is the FIRST ``-`` of the name.
- ``device``: ``[A-Za-z0-9][A-Za-z0-9._-]*``: it may contain ``_``, and ``-`` only after a tenant
  (``front-door_1511891098.jpg`` is tenant ``front``, device ``door``). The time stamp is the digits after
  the LAST ``_`` (``front_door_1511891098.jpg`` is device ``front_door``).
  Devices and tenants become path components downstream (``/valid/<device>/<ts>.jpg``), so neither can start
  with ``.`` or contain ``/``. Each is at most 64 characters.
- ``unix seconds``: 10 or more ASCII digits (as in 2017), at most 9999-12-31T23:59:59Z (253402300799);
  a 13-digit millisecond stamp therefore does not parse rather than landing in the year 49,000.
- ``ext``: one or more ASCII letters or digits (the real format is read from the bytes, not the name).

Precedence in :func:`merge_identity`:

- device and tenant: sidecar > file name (a sidecar is an explicit statement by the uploader);
- time stamp: file name > sidecar (``ts`` unix seconds, or ``time`` ISO-8601) > EXIF ``DateTimeOriginal``.
  Naive date-times (EXIF always, ISO strings without an offset) are read in the camera's time zone.

``Identity.source`` names where the time stamp came from. Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal

Source = Literal["filename", "exif", "sidecar"]

MAX_TS = 253_402_300_799  # 9999-12-31T23:59:59Z: the last second a datetime can hold
_PART_MAX = 64
_NAME_RE = re.compile(
    r"(?:(?P<tenant>[A-Za-z0-9][A-Za-z0-9._]*)-)?"
    r"(?P<device>[A-Za-z0-9][A-Za-z0-9._-]*)"
    r"_(?P<ts>[0-9]{10,})"
    r"\.(?P<ext>[A-Za-z0-9]+)",
    re.ASCII,
)
_TENANT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._]*", re.ASCII)
_DEVICE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*", re.ASCII)


@dataclass(frozen=True)
class Identity:
    """The camera (``tenant``, ``device``) and the capture time ``ts`` (unix seconds, UTC) of one image."""

    tenant: str | None
    device: str
    ts: int
    source: Source

    def to_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "device": self.device, "ts": self.ts, "source": self.source}


def is_valid_device(text: str) -> bool:
    """True when ``text`` may be used as a device name (see the module grammar)."""
    return len(text) <= _PART_MAX and _DEVICE_RE.fullmatch(text) is not None


def is_valid_tenant(text: str) -> bool:
    """True when ``text`` may be used as a tenant name (see the module grammar)."""
    return len(text) <= _PART_MAX and _TENANT_RE.fullmatch(text) is not None


def parse_camera(camera: str) -> tuple[str | None, str] | None:
    """Split a camera name as it appears in stage outputs and the API, ``[<tenant>-]<device>``, into
    (tenant, device) by the same grammar as file names (the FIRST ``-`` separates the tenant); ``None`` when
    ``camera`` is not a valid camera name. This is the one camera-to-tenant rule: the threat stage gives events
    the tenant parsed this way, and rules' ``tenants``/``devices`` patterns are matched against it."""
    tenant, sep, device = camera.partition("-")
    if not sep:
        return (None, camera) if is_valid_device(camera) else None
    if is_valid_tenant(tenant) and is_valid_device(device):
        return tenant, device
    return None


def camera_name(tenant: str | None, device: str) -> str:
    """Inverse of :func:`parse_camera`."""
    return f"{tenant}-{device}" if tenant else device


def parse_name(name: str) -> Identity | None:
    """Parse ``[<tenant>-]<device>_<unix seconds>.<ext>``; ``None`` when ``name`` does not follow it.

    Never raises. A directory part (anything up to the last ``/``) is ignored.
    """
    base = name.rsplit("/", 1)[-1]
    match = _NAME_RE.fullmatch(base)
    if match is None:
        return None
    tenant, device = match["tenant"], match["device"]
    if tenant is None and "-" in device:
        return None  # the first '-' separates the tenant, and what precedes it is not one
    if len(device) > _PART_MAX or (tenant is not None and len(tenant) > _PART_MAX):
        return None
    digits = match["ts"]
    if len(digits) > len(str(MAX_TS)) or int(digits) > MAX_TS:
        return None
    return Identity(tenant=tenant, device=device, ts=int(digits), source="filename")


def to_unix(moment: datetime, tz: tzinfo) -> int:
    """Unix seconds of ``moment``; a naive ``moment`` is read as wall-clock time in ``tz``."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)
    return int(aware.astimezone(UTC).timestamp())


@dataclass(frozen=True)
class _Sidecar:
    tenant: str | None
    device: str | None
    ts: int | None


def _sidecar_str(sidecar: Mapping[str, Any], key: str, check: Any) -> str | None:
    value = sidecar.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not check(value):
        raise ValueError(f"sidecar {key!r} must be a name like 'dev1' (letters, digits, '.', '_'): {value!r}")
    return value


def _sidecar_ts(sidecar: Mapping[str, Any], tz: tzinfo) -> int | None:
    ts, time = sidecar.get("ts"), sidecar.get("time")
    if ts is not None:
        if isinstance(ts, bool) or not isinstance(ts, int) or not 0 <= ts <= MAX_TS:
            raise ValueError(f"sidecar 'ts' must be unix seconds (an integer >= 0), got {ts!r}")
        return ts
    if time is None:
        return None
    if not isinstance(time, str):
        raise ValueError(f"sidecar 'time' must be an ISO-8601 string, got {time!r}")
    try:
        moment = datetime.fromisoformat(time)
    except ValueError:
        raise ValueError(f"sidecar 'time' is not ISO-8601 (e.g. 2017-11-28T17:44:58Z): {time!r}") from None
    try:
        return to_unix(moment, tz)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"sidecar 'time' is out of range: {time!r}") from None


def parse_sidecar(sidecar: Mapping[str, Any], tz: tzinfo) -> _Sidecar:
    """Read ``{"tenant", "device", "ts" | "time"}`` (all optional; other keys are ignored).

    Raises ``ValueError`` naming the bad key when a value has the wrong type or form.
    """
    return _Sidecar(
        tenant=_sidecar_str(sidecar, "tenant", is_valid_tenant),
        device=_sidecar_str(sidecar, "device", is_valid_device),
        ts=_sidecar_ts(sidecar, tz),
    )


def merge_identity(
    from_name: Identity | None,
    exif_datetime: datetime | None,
    sidecar: Mapping[str, Any] | None,
    tz: tzinfo,
) -> Identity | None:
    """Combine the three sources (precedence: module docstring); ``None`` when device or time is unknown.

    ``exif_datetime`` is EXIF ``DateTimeOriginal`` (naive: read in ``tz``). Raises ``ValueError`` for a
    malformed ``sidecar``; callers that must not fail can retry with ``sidecar=None``.
    """
    side = parse_sidecar(sidecar, tz) if sidecar is not None else _Sidecar(None, None, None)
    device = side.device or (from_name.device if from_name else None)
    if device is None:
        return None
    tenant = side.tenant or (from_name.tenant if from_name else None)
    if from_name is not None:
        return Identity(tenant, device, from_name.ts, "filename")
    if side.ts is not None:
        return Identity(tenant, device, side.ts, "sidecar")
    if exif_datetime is not None:
        try:
            ts = to_unix(exif_datetime, tz)
        except (OverflowError, OSError, ValueError):
            return None
        if 0 <= ts <= MAX_TS:
            return Identity(tenant, device, ts, "exif")
    return None
