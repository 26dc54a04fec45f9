"""The model catalogue and ``pull``: pinned downloads with sha256 checks, a cache, and mirrors.

Mirrors serve air-gapped sites: ``VIGIL_MIRROR`` holds ':'-separated folders or http(s) base URLs, searched in
order by file name before the pinned upstream URL. A file whose sha256 differs from the catalogue is never
placed in the cache: ``pull`` raises ``IntegrityError`` at once instead of trying the next source, because a
tampered or corrupted mirror is something an operator must hear about.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict

from vigil.errors import IntegrityError, ModelError, NotFoundError

log = logging.getLogger(__name__)

MIRROR_ENV = "VIGIL_MIRROR"
CHUNK = 1 << 20
Progress = Callable[[int, int], None]
# A URL (scheme, host, optional :port, path up to the next ':') or a folder (anything up to the next ':').
_MIRROR_TOKEN = re.compile(r"https?://[^/:]*(?::\d+)?[^:]*|[^:]+", re.IGNORECASE)


class Asset(BaseModel):
    """A file fetched by name from mirrors or a pinned URL, verified by sha256 (models, sample images)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file_name: str
    url: str
    sha256: str
    size: int


class CatalogEntry(Asset):
    """One downloadable model: where it lives, what it must hash to, and how to run it."""

    name: str
    input_size: tuple[int, int]  # (width, height)
    kind: Literal["yolox", "fastestdet"]
    classes: Literal["coco80"]
    licence: str


CATALOG: dict[str, CatalogEntry] = {
    e.name: e
    for e in (
        CatalogEntry(
            name="yolox-nano",
            file_name="yolox_nano_416.onnx",
            url="https://github.com/Kazuhito00/YOLOX-ONNX-TFLite-Sample/raw/"
            "3d4f1119d0694200671c08069ecb847aa0d8495a/model/yolox_nano.onnx",
            sha256="695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14",
            size=3_660_092,
            input_size=(416, 416),
            kind="yolox",
            classes="coco80",
            licence="Apache-2.0",
        ),
        CatalogEntry(
            name="fastestdet",
            file_name="FastestDet_352.onnx",
            url="https://github.com/dog-qiuqiu/FastestDet/raw/"
            "50473cd155cb088aa4a99e64ff6a4b3c24fa07e1/example/onnx-runtime/FastestDet.onnx",
            sha256="31cb14c017fce347cb4c846ec62fdf00d76bb3beecdf4be21e7116ac67feb880",
            size=998_169,
            input_size=(352, 352),
            kind="fastestdet",
            classes="coco80",
            licence="BSD-3-Clause",
        ),
    )
}


def get_entry(name: str) -> CatalogEntry:
    """The catalogue entry called ``name``; ``NotFoundError`` listing the known names otherwise."""
    try:
        return CATALOG[name]
    except KeyError:
        raise NotFoundError(
            f"no model called {name!r} in the catalogue", hint=f"known models: {', '.join(sorted(CATALOG))}"
        ) from None


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def find_entry(path: Path) -> CatalogEntry | None:
    """The catalogue entry whose sha256 (checked first) or file name matches ``path``, else None."""
    digest = sha256_file(path) if path.is_file() else None
    for entry in CATALOG.values():
        if entry.sha256 == digest:
            return entry
    return next((e for e in CATALOG.values() if e.file_name == path.name), None)


def mirrors_from_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """Parse ``VIGIL_MIRROR``: ':'-separated folders and http(s) base URLs, in order.

    The ':' of a URL scheme (``http://``) and of a port (``http://host:8000/m``) do not split.
    E.g. ``/srv/models:http://10.0.0.5:8000/models`` -> ``["/srv/models", "http://10.0.0.5:8000/models"]``.
    """
    value = (os.environ if environ is None else environ).get(MIRROR_ENV, "")
    return [m.group(0).strip() for m in _MIRROR_TOKEN.finditer(value) if m.group(0).strip()]


def _is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def _read_source(source: str) -> Iterator[bytes]:
    """Yield the bytes of a local file or an HTTP(S) URL; raises OSError / httpx.HTTPError on failure."""
    if _is_url(source):
        with httpx.stream("GET", source, follow_redirects=True, timeout=30.0) as resp:
            resp.raise_for_status()
            yield from resp.iter_bytes(CHUNK)
    else:
        with open(source, "rb") as f:
            while block := f.read(CHUNK):
                yield block


def _fetch(entry: Asset, source: str, dest: Path, progress: Progress | None) -> None:
    """Copy ``source`` to ``dest`` via a temp file in its folder, check sha256, rename atomically."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{entry.file_name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        h, done = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            for block in _read_source(source):
                out.write(block)
                h.update(block)
                done += len(block)
                if progress:
                    progress(done, entry.size)
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != entry.sha256:
            raise IntegrityError(
                f"{entry.file_name} from {source} has sha256 {h.hexdigest()} ({done} bytes), "
                f"expected {entry.sha256} ({entry.size} bytes); nothing was cached",
                hint="the source is corrupt or tampered with: replace the file there, or remove that mirror",
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _sources(entry: Asset, mirrors: list[str]) -> list[str]:
    out = []
    for m in mirrors:
        if _is_url(m):
            out.append(f"{m.rstrip('/')}/{entry.file_name}")
        elif (Path(m) / entry.file_name).is_file():
            out.append(str(Path(m) / entry.file_name))
        else:
            log.info("mirror folder %s has no %s", m, entry.file_name)
    return [*out, entry.url]


def pull(
    name: str, cache_dir: Path, *, mirrors: list[str] | None = None, progress: Progress | None = None
) -> Path:
    """The cached, sha256-verified file of catalogue model ``name``, downloading it if needed.

    A cached file with the right sha256 is returned without touching any source. Otherwise ``mirrors``
    (folders or http(s) base URLs; None means :func:`mirrors_from_env`) are tried in order, then the pinned
    URL; the first that delivers wins. ``progress(done_bytes, total_bytes)`` is called while copying.
    Raises ``NotFoundError`` (unknown name), ``IntegrityError`` (a source delivered wrong bytes; nothing is
    cached), ``ModelError`` (no source reachable).
    """
    return fetch_asset(get_entry(name), cache_dir, mirrors=mirrors, progress=progress)


def fetch_asset(entry: Asset, cache_dir: Path, *, mirrors: list[str] | None = None,
                progress: Progress | None = None) -> Path:
    """The cached, sha256-verified copy of ``entry`` in ``cache_dir``, fetched from the first source that
    delivers (``mirrors`` in order, None meaning :func:`mirrors_from_env`, then the pinned URL).
    Raises ``IntegrityError`` (wrong bytes; nothing cached) or ``ModelError`` (no source reachable)."""
    name = entry.file_name
    cache_dir = Path(cache_dir)
    dest = cache_dir / entry.file_name
    if dest.is_file():
        if sha256_file(dest) == entry.sha256:
            return dest
        log.warning("cached %s has a wrong sha256; removing it and downloading again", dest)
        dest.unlink()
    cache_dir.mkdir(parents=True, exist_ok=True)
    failures = []
    for source in _sources(entry, mirrors_from_env() if mirrors is None else mirrors):
        try:
            _fetch(entry, source, dest, progress)
        except (OSError, httpx.HTTPError) as exc:
            log.info("could not fetch %s from %s: %s", entry.file_name, source, exc)
            failures.append(f"{source}: {exc}")
            continue
        log.info("pulled %s from %s into %s", name, source, dest)
        return dest
    raise ModelError(
        f"could not fetch {name!r} from any source: " + "; ".join(failures),
        hint=f"set {MIRROR_ENV} to a folder or http(s) URL holding {entry.file_name}, or check the network",
    )
