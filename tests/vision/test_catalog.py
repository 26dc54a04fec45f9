"""The model catalogue and ``pull``: folder and real HTTP mirrors, sha256 checks, cache behaviour."""

from __future__ import annotations

import functools
import re
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from vigil.errors import IntegrityError, ModelError, NotFoundError
from vigil.vision import catalog
from vigil.vision.catalog import CATALOG, find_entry, mirrors_from_env, pull, sha256_file


@pytest.fixture
def mirror(models_dir: Path, tmp_path: Path) -> Path:
    """A folder mirror holding a copy of FastestDet (the smaller model)."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    shutil.copy(models_dir / "FastestDet_352.onnx", folder)
    return folder


class _Server:
    def __init__(self, root: Path) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                super().do_GET()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/models"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def http_mirror(mirror: Path) -> Iterator[_Server]:
    """A real HTTP server on 127.0.0.1 serving the folder mirror under /models/."""
    (mirror.parent / "www").mkdir()
    shutil.copytree(mirror, mirror.parent / "www" / "models")
    server = _Server(mirror.parent / "www")
    yield server
    server.close()


def test_catalogue_matches_sources_md(models_dir: Path) -> None:
    sources = (models_dir / "SOURCES.md").read_text()
    for entry in CATALOG.values():
        row = next(line for line in sources.splitlines() if line.startswith(f"| {entry.file_name} "))
        assert entry.sha256 in row and entry.url in row and entry.licence in row
        assert f"{entry.size:,}" in row
        assert sha256_file(models_dir / entry.file_name) == entry.sha256
        assert (models_dir / entry.file_name).stat().st_size == entry.size
        assert find_entry(models_dir / entry.file_name) == entry
    assert {e.name for e in CATALOG.values()} == {"yolox-nano", "fastestdet"}


def test_pull_from_folder_mirror(mirror: Path, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    path = pull(
        "fastestdet", tmp_path / "cache", mirrors=[str(mirror)], progress=lambda d, t: seen.append((d, t))
    )
    entry = CATALOG["fastestdet"]
    assert path == tmp_path / "cache" / entry.file_name
    assert sha256_file(path) == entry.sha256
    assert seen[-1] == (entry.size, entry.size)
    assert sorted(p.name for p in path.parent.iterdir()) == [entry.file_name], "no temp files left"


def test_pull_from_http_mirror_then_cached_pull_does_no_io(http_mirror: _Server, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    missing = str(tmp_path / "empty-folder")  # a folder mirror without the file is skipped
    path = pull("fastestdet", cache, mirrors=[missing, http_mirror.url])
    assert sha256_file(path) == CATALOG["fastestdet"].sha256
    assert http_mirror.requests == ["/models/FastestDet_352.onnx"]
    again = pull("fastestdet", cache, mirrors=[http_mirror.url])
    assert again == path
    assert len(http_mirror.requests) == 1, "a verified cached file must not touch the mirror"


def test_sha256_mismatch_raises_and_caches_nothing(mirror: Path, tmp_path: Path) -> None:
    bad = mirror / "FastestDet_352.onnx"
    data = bytearray(bad.read_bytes())
    data[1000] ^= 0xFF
    bad.write_bytes(bytes(data))
    cache = tmp_path / "cache"
    with pytest.raises(IntegrityError, match="sha256") as info:
        pull("fastestdet", cache, mirrors=[str(mirror)])
    assert info.value.hint
    assert list(cache.iterdir()) == []


def test_corrupt_cached_file_is_replaced(mirror: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "FastestDet_352.onnx").write_bytes(b"truncated")
    path = pull("fastestdet", cache, mirrors=[str(mirror)])
    assert sha256_file(path) == CATALOG["fastestdet"].sha256


def test_unknown_name_lists_the_catalogue(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="ssd") as info:
        pull("ssd-mobilenet", tmp_path)
    assert "yolox-nano" in str(info.value) and "fastestdet" in str(info.value)


def test_no_reachable_source_raises_model_error(
    http_mirror: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = CATALOG[
        "yolox-nano"
    ]  # the HTTP mirror only holds FastestDet: 404, then the (local) pinned URL 404s
    local_pin = entry.model_copy(update={"url": f"{http_mirror.url}/pinned/{entry.file_name}"})
    monkeypatch.setitem(catalog.CATALOG, "yolox-nano", local_pin)
    with pytest.raises(ModelError, match="could not fetch") as info:
        pull("yolox-nano", tmp_path / "cache", mirrors=[http_mirror.url])
    assert "VIGIL_MIRROR" in str(info.value)
    assert len(http_mirror.requests) == 2
    assert not list((tmp_path / "cache").iterdir())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", []),
        ("/srv/models", ["/srv/models"]),
        ("/a:/b", ["/a", "/b"]),
        ("http://mirror.local/models", ["http://mirror.local/models"]),
        ("/srv/m:http://10.0.0.5:8000/models:/b", ["/srv/m", "http://10.0.0.5:8000/models", "/b"]),
        ("https://a/x:http://b:81/y", ["https://a/x", "http://b:81/y"]),
        ("::/a::", ["/a"]),
    ],
)
def test_mirrors_from_env(value: str, expected: list[str]) -> None:
    assert mirrors_from_env({"VIGIL_MIRROR": value}) == expected


def test_mirrors_from_env_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch, mirror: Path, tmp_path: Path
) -> None:
    monkeypatch.setenv("VIGIL_MIRROR", f"{tmp_path / 'nothing'}:{mirror}")
    assert mirrors_from_env() == [str(tmp_path / "nothing"), str(mirror)]
    assert re.fullmatch(r"[0-9a-f]{64}", sha256_file(pull("fastestdet", tmp_path / "cache")))
