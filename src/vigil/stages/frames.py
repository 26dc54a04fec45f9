"""Where camera frames live in stage outputs: ``/<camera>/<unix seconds>.<ext>``.

``<camera>`` is the device, or ``<tenant>-<device>`` when the frame has a tenant (the 2017 layout has none).
Ten-digit seconds sort the same as text and as numbers (until 2286), so a camera's frames in a time window
are one path range.

Two different frames claiming one camera and second (a re-sent frame with new bytes, a .jpg and a .png) are both
kept: the engine renames the later one ``<ts>~<first hex digits of its sha256>.<ext>``
(:mod:`vigil.pipeline.conflicts`); ``dup`` carries that suffix through detect and threat, so each distinct frame
has its own records and events.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.domain.identity import Identity


@dataclass(frozen=True)
class FramePath:
    tenant: str | None
    device: str
    ts: int
    dup: str = ""  # set when the engine renamed a conflicting frame: the suffix after "~"

    @property
    def camera(self) -> str:
        return f"{self.tenant}-{self.device}" if self.tenant else self.device

    def path(self, ext: str, prefix: str = "") -> str:
        dup = f"~{self.dup}" if self.dup else ""
        return f"{prefix}/{self.camera}/{self.ts:010d}{dup}{ext}"

    @classmethod
    def of(cls, identity: Identity) -> FramePath:
        return cls(identity.tenant, identity.device, identity.ts)

    @classmethod
    def parse(cls, path: str) -> FramePath:
        """From ``.../<camera>/<ts>.<ext>``; ``ValueError`` if the path is not of that shape."""
        parts = path.strip("/").split("/")
        if len(parts) < 2:
            raise ValueError(f"{path!r} is not <camera>/<ts>.<ext>")
        camera, name = parts[-2], parts[-1]
        stem, _, dup = name.split(".", 1)[0].partition("~")
        if not stem.isdigit():
            raise ValueError(f"{path!r}: {stem!r} is not a unix time in seconds")
        tenant, sep, device = camera.partition("-")
        return cls(tenant if sep else None, device if sep else camera, int(stem), dup)


FORMAT_EXT = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}
