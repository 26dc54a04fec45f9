"""``validate`` stage: quarantine bad frames with reasons; route good ones to ``/valid/<camera>/<ts>.<ext>``.

Valid frames are the SAME blob under a new path (no byte copy). Invalid files keep their name under
``/invalid/`` beside ``<name>.reasons.json`` listing every reason. A frame whose camera and time are known but
whose picture is unusable (black, blank, low contrast, overexposed, blurry: what a covered or blinded camera
sends) is also noted at ``/unusable/<camera>/<ts>.json``, where the motion stage finds it by camera and time,
so that camera-health rules see a blinded camera instead of silence. Thresholds: ``params.config`` (see
:class:`vigil.vision.quality.ValidationConfig`, including per-camera overrides). The pixels decoded to judge a
valid frame are left in this process's frame cache for the detect stage (:mod:`vigil.vision.framecache`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vigil.pipeline.transform import Blob, DatumContext, Outputs
from vigil.stages.frames import FORMAT_EXT, FramePath
from vigil.stages.records import encode_record
from vigil.vision.framecache import shared_frames
from vigil.vision.native_messages import into
from vigil.vision.quality import ValidationConfig, ValidationResult, validate_image

# Reasons that say the picture is unusable, not that the upload is broken or unnamed: camera-health evidence.
PICTURE_CODES = frozenset({"black", "blank", "low_contrast", "overexposed", "blurry"})


class ValidateStage:
    def __init__(self, params: Mapping[str, Any]) -> None:
        self.input = str(params.get("input", "images"))
        self.config = ValidationConfig.parse(params.get("config", {}), "validate stage params.config")

    def setup(self) -> None:
        pass

    def process_batch(self, datums: Sequence[DatumContext]) -> list[Outputs]:
        outputs = []
        for d in datums:
            with into(d.notes):  # a decoder's warnings about a frame go to its datum's log
                outputs.append(self._one(d))
        return outputs

    def _one(self, ctx: DatumContext) -> Outputs:
        outputs: Outputs = {}
        for part in ctx.input(self.input) if self.input in {i.name for i in ctx.task.inputs} else ctx.task.inputs:
            for f in part.files:
                data = ctx.read(f)
                result = validate_image(data, f.path.rsplit("/", 1)[-1], self.config)
                if result.valid and result.identity is not None and result.format in FORMAT_EXT:
                    frame = FramePath.of(result.identity)
                    outputs[frame.path(FORMAT_EXT[result.format], "/valid")] = Blob(f.oid, f.size)
                    if result.frame is not None:
                        shared_frames().put(f.oid, result.frame)
                else:
                    outputs[f"/invalid{f.path}"] = Blob(f.oid, f.size)
                    report = {"path": f.path, "oid": f.oid, **result.to_dict()}
                    outputs[f"/invalid{f.path}.reasons.json"] = encode_record(report)
                    if result.identity is not None and result.reasons and set(result.codes) <= PICTURE_CODES:
                        frame = FramePath.of(result.identity)
                        outputs[frame.path(".json", "/unusable")] = _unusable(frame, f.path, f.oid, f.size, result)
        return outputs


def _unusable(frame: FramePath, path: str, oid: str, size: int, result: ValidationResult) -> bytes:
    return encode_record({
        "camera": frame.camera, "tenant": frame.tenant, "device": frame.device, "ts": frame.ts,
        "source": {"path": f"/invalid{path}", "sha256": oid, "size": size},
        "width": result.width, "height": result.height, "reasons": result.codes, "metrics": result.metrics,
    })
