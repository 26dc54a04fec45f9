"""``motion`` stage: judge each frame against its camera's recent frames; detect runs only where it says so.

Input: the validate repo, glob ``/*/*/*``: ``/valid/<camera>/<ts>.<ext>`` (a usable frame) and
``/unusable/<camera>/<ts>.json`` (a frame validate found black, blank, low-contrast, overexposed or blurry);
anything else (``/invalid/<folder>/<file>``) yields nothing. Output ``/<camera>/<ts>.json``: the camera, the
frame (path, sha256, size, width, height) and the verdict (:class:`vigil.vision.motion.MotionVerdict`: whether
detection runs and why, motion areas, and the scene facts camera-health rules judge).

Why a stage and not a step of validate: the verdict needs the camera's previous VALID frames, and those exist
by camera and time only in validate's output (uploads are named anything; identity may come from a sidecar or
EXIF). Reading them here is one path-range read at the same input commit (``ctx.neighbours``), so the verdict is
a function of the frame and its look-back window alone: any worker, in any order, gives the same bytes, and the
cost of a frame is bounded by the window, never by the camera's history.

Params: ``input`` (default ``validate``) and ``settings`` (:class:`vigil.vision.motion.MotionSettings`, with
per-camera overrides under ``cameras``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

from PIL import Image

from vigil.pipeline.datums import FileRef
from vigil.pipeline.transform import DatumContext, Outputs
from vigil.stages.frames import FramePath
from vigil.stages.perdatum import PerDatumStage
from vigil.stages.records import encode_record
from vigil.store.models import FileInfo
from vigil.vision.motion import (
    MotionSettings,
    Thumb,
    analyse,
    image_size,
    shared_thumbnails,
    thumbnail_from_bytes,
)

IMAGE_EXTS = (".jpg", ".png", ".webp")


class MotionStage(PerDatumStage):
    def __init__(self, params: Mapping[str, Any]) -> None:
        self.input = str(params.get("input", "validate"))
        self.settings = MotionSettings.parse(params.get("settings", {}), "motion stage params.settings")

    def process(self, ctx: DatumContext) -> Outputs:
        outputs: Outputs = {}
        for f in ctx.files(self.input):
            parts = f.path.strip("/").split("/")
            if len(parts) != 3:
                continue
            if parts[0] == "valid" and f.path.endswith(IMAGE_EXTS):
                frame = FramePath.parse(f.path)
                outputs[frame.path(".json")] = encode_record(self._judge(ctx, frame, f))
            elif parts[0] == "unusable" and f.path.endswith(".json"):
                frame = FramePath.parse(f.path)
                outputs[frame.path(".json")] = encode_record(_unusable(frame, json.loads(ctx.read(f))))
        return outputs

    def _thumb(self, ctx: DatumContext, f: FileRef | FileInfo, ts: int, height: int) -> Thumb:
        grey = shared_thumbnails().get(f.oid, height, lambda: thumbnail_from_bytes(ctx.read(f), height))
        return Thumb(ts, f.oid, grey)

    def _judge(self, ctx: DatumContext, frame: FramePath, f: FileRef) -> dict[str, Any]:
        settings = self.settings.for_device(frame.device)
        lo = f"/valid/{frame.camera}/{max(frame.ts - settings.lookback_seconds, 0):010d}"
        earlier = [p for p in ctx.neighbours(self.input, lo, f"/valid/{frame.camera}/{frame.ts:010d}")
                   if p.path.endswith(IMAGE_EXTS)]
        data = ctx.read(f)
        size = image_size(data) or _header_size(data)
        grey = shared_thumbnails().get(f.oid, settings.frame_height,
                                       lambda: thumbnail_from_bytes(data, settings.frame_height))
        lookback = [self._thumb(ctx, p, FramePath.parse(p.path).ts, settings.frame_height) for p in earlier]
        verdict = analyse(Thumb(frame.ts, f.oid, grey), lookback, settings)
        return {**_head(frame), "source": {"path": f.path, "sha256": f.oid, "size": f.size},
                "width": size[0] if size else None, "height": size[1] if size else None,
                "motion": verdict.to_dict()}


def _header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of formats :func:`image_size` does not parse (WEBP), from Pillow's lazy header read."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            return int(im.width), int(im.height)
    except Exception:  # validate decoded this frame; a header Pillow cannot read leaves the size unknown
        return None


def _head(frame: FramePath) -> dict[str, Any]:
    return {"camera": frame.camera, "tenant": frame.tenant, "device": frame.device, "ts": frame.ts}


def _unusable(frame: FramePath, note: Mapping[str, Any]) -> dict[str, Any]:
    metrics = note.get("metrics") or {}
    return {**_head(frame), "source": note["source"], "width": note.get("width"), "height": note.get("height"),
            "motion": {"reason": "unusable", "detect": False, "reasons": list(note.get("reasons", [])),
                       "luma_mean": metrics.get("luma_mean"), "luma_std": metrics.get("luma_std")}}


__all__ = ["MotionStage"]
