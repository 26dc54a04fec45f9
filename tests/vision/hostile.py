"""Builder of hostile uploads for the validate stage: each file paired with the reason code it must produce.

``make_hostile_set(dir)`` writes 50 files and returns ``{file name: expected code}``; ``"valid"`` marks files
that look hostile but must pass (garbage EXIF that is not needed, unusual but legal pixel formats).
Derived files start from the real seed images in ``../shared/data/seed``.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable
from functools import partial
from pathlib import Path

from PIL import Image, ImageFilter, ImageOps

SEED = Path(__file__).resolve().parents[3] / "shared" / "data" / "seed"
BASE_SEED = "dev1_1511891155.jpg"  # 640x480 street scene


def _encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def _seed(name: str = BASE_SEED) -> Image.Image:
    with Image.open(SEED / name) as im:
        return im.convert("RGB")


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int, height: int) -> bytes:
    """A complete, legal 1-bit PNG of ``width`` x ``height`` zeros, zlib-streamed (no image in memory)."""
    row = bytes(1 + (width + 7) // 8)  # filter byte 0 + packed bits
    comp = zlib.compressobj(9)
    block_rows = 512
    block = row * block_rows
    parts = [comp.compress(block) for _ in range(height // block_rows)]
    parts.append(comp.compress(row * (height % block_rows)))
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", b"".join(parts))
        + _png_chunk(b"IEND", b"")
    )


def _jpeg_with_size(data: bytes, width: int, height: int) -> bytes:
    """Rewrite the SOF0 frame header of a baseline JPEG to declare another size (pixels untouched)."""
    at = data.index(b"\xff\xc0")
    return data[: at + 5] + struct.pack(">HH", height, width) + data[at + 9 :]


def _jpeg_header_then_zeros(data: bytes) -> bytes:
    sos = data.index(b"\xff\xda")
    length = struct.unpack(">H", data[sos + 2 : sos + 4])[0]
    return data[: sos + 2 + length] + bytes(len(data) // 2)


def _with_app1(data: bytes, payload: bytes) -> bytes:
    """Insert an APP1 segment right after SOI."""
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


def _flip_middle(data: bytes, count: int, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(count):
        i = rng.randrange(len(buf) // 3, 2 * len(buf) // 3)
        buf[i] ^= 0xFF
    return bytes(buf)


def _blur(name: str, sigma_at_640: float) -> bytes:
    im = _seed(name)
    return _encode(im.filter(ImageFilter.GaussianBlur(sigma_at_640 * max(im.size) / 640)), "JPEG", quality=90)


def _broken_files(
    seed_jpeg: bytes, seed: Image.Image, rng: random.Random
) -> list[tuple[str, str, Callable[[], bytes]]]:
    """Files a decoder or the header check must refuse, and names that do not parse."""
    progressive = _encode(seed, "JPEG", quality=90, progressive=True)
    png = _encode(seed, "PNG")
    webp = _encode(seed, "WEBP", quality=80)
    out: list[tuple[str, str, Callable[[], bytes]]] = []
    for pct in (5, 25, 50, 75, 90, 98):
        cut = seed_jpeg[: len(seed_jpeg) * pct // 100]
        out.append((f"trunc{pct}_1511891155.jpg", "truncated", partial(bytes, cut)))
    out += [
        ("truncnoeoi_1511891155.jpg", "truncated", lambda: seed_jpeg[:-600]),
        ("truncprog_1511891155.jpg", "truncated", lambda: progressive[: len(progressive) // 2]),
        ("truncpng50_1511891155.png", "truncated", lambda: png[: len(png) // 2]),
        ("truncpng95_1511891155.png", "truncated", lambda: png[: len(png) * 95 // 100]),
        ("truncwebp_1511891155.webp", "truncated", lambda: webp[: len(webp) // 2]),
        ("bomb-png30k_1511891155.png", "bomb", lambda: png_bomb(30_000, 30_000)),
        ("bomb-png120m_1511891155.png", "bomb", lambda: png_bomb(12_000, 10_000)),
        ("bomb-jpeg60k_1511891155.jpg", "bomb", lambda: _jpeg_with_size(seed_jpeg, 60_000, 60_000)),
        ("tiny-jpeg_1511891155.jpg", "too_small", lambda: _encode(Image.new("RGB", (1, 1), "gray"), "JPEG")),
        ("tiny-png_1511891155.png", "too_small", lambda: _encode(Image.new("RGB", (1, 1), "gray"), "PNG")),
        ("strip_1511891155.jpg", "too_small", lambda: _encode(seed.resize((640, 8)), "JPEG")),
        ("wide_1511891155.jpg", "too_large", lambda: _jpeg_with_size(seed_jpeg, 12_000, 480)),
        ("text_1511891155.jpg", "format", lambda: b"This is not a picture, it is a shopping list.\n" * 20),
        ("html_1511891155.png", "format", lambda: b"<!doctype html><html><body>404 Not Found</body></html>"),
        ("random_1511891155.jpg", "format", lambda: rng.randbytes(20_000)),
        ("empty_1511891155.jpg", "empty", lambda: b""),
        ("blah.jpg", "name", lambda: seed_jpeg),
        ("dev1-1511891155.jpg", "name", lambda: seed_jpeg),
        ("dev1_151189115.jpg", "name", lambda: seed_jpeg),
        ("dev1_1511891155123.jpg", "name", lambda: seed_jpeg),
        (".dev1_1511891155.jpg", "name", lambda: seed_jpeg),
        ("dev1_1511891155", "name", lambda: seed_jpeg),
    ]
    return out


def _content_files(
    seed_jpeg: bytes, seed: Image.Image, rng: random.Random
) -> list[tuple[str, str, Callable[[], bytes]]]:
    """Decodable files whose pixels, format or metadata are the problem (or are fine)."""
    png = _encode(seed, "PNG")
    grey = seed.convert("L")
    return [
        (
            "exifjunk_1511891155.jpg",
            "valid",
            lambda: _with_app1(seed_jpeg, b"Exif\x00\x00" + rng.randbytes(300)),
        ),
        (
            "exiftiff_1511891155.jpg",
            "valid",
            lambda: _with_app1(seed_jpeg, b"Exif\x00\x00MM\x00\x2a\xff\xff\xff\xf0" + bytes(64)),
        ),
        ("black_1511891155.jpg", "black", lambda: _encode(Image.new("RGB", (640, 480)), "JPEG")),
        ("night_1511891155.jpg", "black", lambda: _encode(grey.point(lambda v: v // 40), "JPEG", quality=95)),
        (
            "white_1511891155.jpg",
            "overexposed",
            lambda: _encode(Image.new("RGB", (640, 480), "white"), "JPEG"),
        ),
        (
            "washed_1511891155.jpg",
            "overexposed",
            lambda: _encode(grey.point(lambda v: 240 + v // 17), "JPEG"),
        ),
        (
            "grey_1511891155.jpg",
            "low_contrast",
            lambda: _encode(Image.new("RGB", (640, 480), (128,) * 3), "JPEG"),
        ),
        ("fog_1511891155.jpg", "low_contrast", lambda: _encode(grey.point(lambda v: 120 + v // 32), "PNG")),
        ("blur1_1511891155.jpg", "blurry", lambda: _blur(BASE_SEED, 8)),
        ("blur2_1511891098.jpg", "blurry", lambda: _blur("dev1_1511891098.jpg", 6)),
        ("blur3_1511891385.jpg", "blurry", lambda: _blur("dev3_1511891385.jpg", 8)),
        ("gif_1511891155.gif", "format", lambda: _encode(seed.convert("P"), "GIF")),
        ("bmp_1511891155.jpg", "format", lambda: _encode(seed, "BMP")),
        ("tiff_1511891155.tif", "format", lambda: _encode(seed, "TIFF")),
        ("ppm_1511891155.jpg", "format", lambda: _encode(seed, "PPM")),
        ("zeros_1511891155.jpg", "truncated", lambda: _jpeg_header_then_zeros(seed_jpeg)),
        ("pngcrc_1511891155.png", "corrupt", lambda: _flip_middle(png, 8, rng)),
        ("png16_1511891155.png", "overexposed", lambda: _encode(Image.new("I;16", (64, 64), 65535), "PNG")),
        ("clear_1511891155.png", "black", lambda: _encode(Image.new("RGBA", (64, 64), (0, 0, 0, 0)), "PNG")),
        ("cmyk_1511891155.jpg", "valid", lambda: _encode(seed.convert("CMYK"), "JPEG", quality=90)),
        ("palette_1511891155.png", "valid", lambda: _encode(seed.convert("P"), "PNG")),
        ("mirror_1511891155.webp", "valid", lambda: _encode(ImageOps.mirror(seed), "WEBP", quality=80)),
    ]


def _builders() -> list[tuple[str, str, Callable[[], bytes]]]:
    rng = random.Random(690)
    seed_jpeg = (SEED / BASE_SEED).read_bytes()
    seed = _seed()
    return _broken_files(seed_jpeg, seed, rng) + _content_files(seed_jpeg, seed, rng)


def make_hostile_set(directory: Path) -> dict[str, str]:
    """Write the hostile files into ``directory``; return ``{file name: expected reason code or "valid"}``."""
    directory.mkdir(parents=True, exist_ok=True)
    expected: dict[str, str] = {}
    for name, code, build in _builders():
        (directory / name).write_bytes(build())
        expected[name] = code
    return expected
