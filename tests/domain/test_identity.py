"""Camera identity from file names, sidecars and EXIF."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.domain.identity import MAX_TS, Identity, merge_identity, parse_name

UTC_TZ = UTC
NY = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("dev1_1511891098.jpg", (None, "dev1", 1511891098)),
        ("dev4_1511891512.jpg", (None, "dev4", 1511891512)),
        ("images/dev1_1511891098.jpg", (None, "dev1", 1511891098)),
        ("acme-dev1_1511891098.jpg", ("acme", "dev1", 1511891098)),
        ("acme-front-door_1511891098.png", ("acme", "front-door", 1511891098)),
        ("front_door_1511891098.jpg", (None, "front_door", 1511891098)),
        ("acme.eu-cam.2_1511891098.JPEG", ("acme.eu", "cam.2", 1511891098)),
        ("a_b-c_1511891098.jpg", ("a_b", "c", 1511891098)),
        ("front-door_1511891098.jpg", ("front", "door", 1511891098)),
        ("a.b-c-d_e_1511891098.jpg", ("a.b", "c-d_e", 1511891098)),
        ("dev1_15118910980.jpg", (None, "dev1", 15118910980)),
        ("dev1_0000000001.jpg", (None, "dev1", 1)),
        (f"dev1_{MAX_TS}.jpg", (None, "dev1", MAX_TS)),
        ("blah.jpg", None),
        ("dev1_151189109.jpg", None),  # 9 digits
        ("dev1_1511891098123.jpg", None),  # milliseconds: past year 9999 as seconds
        (f"dev1_{MAX_TS + 1}.jpg", None),
        ("dev1_1511891098", None),  # no extension
        ("dev1_1511891098.", None),
        ("dev1-1511891098.jpg", None),
        ("_1511891098.jpg", None),
        (".dev1_1511891098.jpg", None),
        ("-dev1_1511891098.jpg", None),
        ("acme--dev1_1511891098.jpg", None),
        ("dev 1_1511891098.jpg", None),
        ("dév1_1511891098.jpg", None),
        ("dev1_١٥١١٨٩١٠٩٨.jpg", None),  # Arabic-Indic digits are not ASCII digits
        ("dev1_1511891098.jpg\n", None),
        ("dev1_1511891098.tar.gz", None),
        ("../dev1_1511891098.jpg", (None, "dev1", 1511891098)),
        ("x" * 65 + "_1511891098.jpg", None),
        ("", None),
    ],
)
def test_parse_name(name: str, expected: tuple[str | None, str, int] | None) -> None:
    got = parse_name(name)
    if expected is None:
        assert got is None
    else:
        assert got == Identity(*expected, source="filename")


NAME = Identity(None, "dev1", 1511891098, "filename")
EXIF_TIME = datetime(2017, 11, 28, 12, 44, 58)  # naive: camera wall clock


@pytest.mark.parametrize(
    ("from_name", "exif", "sidecar", "tz", "expected"),
    [
        (NAME, None, None, UTC_TZ, NAME),
        # device: sidecar > name; ts: name > sidecar
        (NAME, None, {"device": "porch", "ts": 5}, UTC_TZ, Identity(None, "porch", 1511891098, "filename")),
        (NAME, None, {"tenant": "acme"}, UTC_TZ, Identity("acme", "dev1", 1511891098, "filename")),
        (
            None,
            EXIF_TIME,
            {"device": "porch", "ts": 1500000000},
            UTC_TZ,
            Identity(None, "porch", 1500000000, "sidecar"),
        ),
        (
            None,
            None,
            {"device": "p", "time": "2017-11-28T17:44:58Z"},
            NY,
            Identity(None, "p", 1511891098, "sidecar"),
        ),
        (
            None,
            None,
            {"device": "p", "time": "2017-11-28T12:44:58"},
            NY,
            Identity(None, "p", 1511891098, "sidecar"),
        ),
        # ts: EXIF last, naive time read in the camera's zone
        (None, EXIF_TIME, {"device": "porch"}, NY, Identity(None, "porch", 1511891098, "exif")),
        (None, EXIF_TIME, {"device": "porch"}, UTC_TZ, Identity(None, "porch", 1511873098, "exif")),
        (
            None,
            EXIF_TIME.replace(tzinfo=timezone(timedelta(hours=1))),
            {"device": "porch"},
            NY,
            Identity(None, "porch", 1511869498, "exif"),
        ),
        (NAME, EXIF_TIME, None, NY, NAME),
        # unknown device or unknown time: no identity
        (None, EXIF_TIME, None, UTC_TZ, None),
        (None, None, {"device": "porch"}, UTC_TZ, None),
        (None, None, {"ts": 1511891098}, UTC_TZ, None),
    ],
)
def test_merge_identity(
    from_name: Identity | None,
    exif: datetime | None,
    sidecar: dict[str, object] | None,
    tz: ZoneInfo,
    expected: Identity | None,
) -> None:
    assert merge_identity(from_name, exif, sidecar, tz) == expected


@pytest.mark.parametrize(
    ("sidecar", "match"),
    [
        ({"device": "../etc"}, "device"),
        ({"device": 7}, "device"),
        ({"tenant": "a-b"}, "tenant"),
        ({"device": "p", "ts": "1511891098"}, "ts"),
        ({"device": "p", "ts": True}, "ts"),
        ({"device": "p", "ts": -1}, "ts"),
        ({"device": "p", "time": "yesterday"}, "ISO-8601"),
        ({"device": "p", "time": 1511891098}, "time"),
    ],
)
def test_bad_sidecar(sidecar: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        merge_identity(NAME, None, sidecar, UTC_TZ)


@given(st.text(max_size=80))
def test_parse_name_never_raises(name: str) -> None:
    got = parse_name(name)
    assert got is None or (got.source == "filename" and 0 <= got.ts <= MAX_TS)


_TENANT = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._]{0,20}", fullmatch=True)
_DEVICE = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)
_DEVICE_NO_DASH = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._]{0,20}", fullmatch=True)
_CAMERA = st.tuples(st.none(), _DEVICE_NO_DASH) | st.tuples(_TENANT, _DEVICE)
_EXT = st.from_regex(r"[A-Za-z0-9]{1,5}", fullmatch=True)


@given(_CAMERA, st.integers(10**9, MAX_TS), _EXT)
def test_parse_name_round_trips(camera: tuple[str | None, str], ts: int, ext: str) -> None:
    tenant, device = camera
    name = f"{tenant}-{device}_{ts}.{ext}" if tenant else f"{device}_{ts}.{ext}"
    assert parse_name(name) == Identity(tenant, device, ts, "filename")
