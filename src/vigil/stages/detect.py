"""``detect`` stage: run an object detector over valid frames; one JSON (+ optional annotated JPEG) per frame.

Frames come from the validate stage's decode when it ran in this process (:mod:`vigil.vision.framecache`),
else they are decoded here; the pixels, and so the results, are the same either way.

The model is a file in the ``model`` input (a cross with the model repo, as in the 2017 design), so a new model
commit re-runs detection with provenance. Detectors are cached per model blob: loaded once per worker.
Output ``/<camera>/<ts>.json``: camera identity, the source frame, the model (file, sha256, kind, thresholds)
and every object (label, COCO-80 id, TF label-map id, score, box).

Frames come either straight from an image input (``images: validate``: every frame is detected) or through the
motion stage (``motion: motion``): each motion record names its frame (path and sha256 in validate's repo) and
says whether detection runs. A frame it rules out still gets a record, with no objects, ``skipped`` set to
the reason (``no_motion``, ``unusable``) and the motion verdict, so downstream stages see every frame and the
provenance says why nothing was detected.

Params beyond the thresholds: ``input_size`` (per-camera network input size, e.g.
``{default: 416, cameras: {"hwy*": {aspect: 640}}}``; see :mod:`vigil.vision.input_size`) and ``merge_classes``
(``[[car, truck, bus]]``: classes a rule treats as one are suppressed together by NMS, so one vehicle the model
calls both car and truck yields one box). Each record's ``model`` names the input size it ran at.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from vigil.domain.coco import COCO80_NAMES, class_index
from vigil.errors import ModelError, SpecError
from vigil.pipeline.datums import FileRef
from vigil.pipeline.transform import DatumContext, Outputs
from vigil.stages.frames import FramePath
from vigil.stages.records import encode_record
from vigil.vision.camera_settings import first_error
from vigil.vision.detector import Detector, DetectorConfig, load_detector
from vigil.vision.draw import annotate
from vigil.vision.framecache import FrameCache, shared_frames
from vigil.vision.image import encode_jpeg
from vigil.vision.input_size import InputSizeSettings
from vigil.vision.native_messages import into

_HINT = "classes is a list of COCO-80 names; merge_classes a list of groups of them, e.g. [[car, truck, bus]]"


def _class_ids(names: Sequence[Any]) -> list[int]:
    return [c if isinstance(c, int) else class_index(str(c)) for c in names]


def _config(params: Mapping[str, Any]) -> DetectorConfig:
    classes = params.get("classes")
    ids = None if classes is None else _class_ids(classes)
    fields = {k: params[k] for k in ("score_threshold", "nms_iou", "threads", "batch_size") if k in params}
    groups = params.get("merge_classes") or []
    try:
        merge = [_class_ids(g) for g in groups]
        return DetectorConfig(classes=ids, merge_classes=merge, **fields)
    except ValidationError as exc:
        raise SpecError(f"detect stage params.{first_error(exc)}", _HINT) from None
    except (ValueError, TypeError) as exc:  # an unknown class name, a group that is not a list
        raise SpecError(f"detect stage params: {exc}", _HINT) from None


class DetectStage:
    def __init__(self, params: Mapping[str, Any]) -> None:
        self.motion = str(params["motion"]) if params.get("motion") else None
        self.images = str(params.get("images", self.motion or "validate"))
        self.model = str(params.get("model", "model"))
        self.kind = params.get("kind")
        self.annotate = bool(params.get("annotate", False))
        self.config = _config(params)
        self.input_size = InputSizeSettings.parse(params.get("input_size"))
        self._detectors: dict[str, tuple[Detector, dict[str, Any]]] = {}
        self._sized: dict[tuple[str, tuple[int, int]], Detector] = {}

    def setup(self) -> None:
        pass

    def _detector(self, ctx: DatumContext) -> tuple[Detector, dict[str, Any]]:
        files = [f for f in ctx.files(self.model) if f.path.endswith(".onnx")]
        if len(files) != 1:
            found = ", ".join(f.path for f in ctx.files(self.model)) or "nothing"
            raise ModelError(f"the model input must hold exactly one .onnx file; found {found}",
                             "commit one model with `vigil model add NAME|FILE`")
        model = files[0]
        if model.oid not in self._detectors:
            path = ctx.local_path(model)
            if path is not None and path.exists():
                detector = load_detector(path, self.kind, self.config)
            else:  # a remote object store: onnxruntime reads the file once, at load, so a scoped copy will do
                with tempfile.TemporaryDirectory(prefix="vigil-models-") as tmp:
                    path = Path(tmp) / f"{model.oid}.onnx"
                    path.write_bytes(ctx.read(model))
                    detector = load_detector(path, self.kind, self.config)
            info = {"file": model.path, "sha256": model.oid, "kind": detector.name,
                    "score_threshold": self.config.score_threshold, "nms_iou": self.config.nms_iou}
            if self.config.merge_classes:
                info["merge_classes"] = [[COCO80_NAMES[c] for c in g] for g in self.config.merge_classes]
            self._detectors[model.oid] = (detector, info)
        return self._detectors[model.oid]

    def _frames(self, ctx: DatumContext) -> list[tuple[FileRef, dict[str, Any] | None]]:
        """(frame file, its motion record or None) for each frame of the datum."""
        if self.motion is None:
            return [(f, None) for f in ctx.files(self.images)]
        out = []
        for f in ctx.files(self.motion):
            if f.path.endswith(".json"):
                doc = json.loads(ctx.read(f))
                src = doc["source"]
                doc["_path"] = f.path  # the frame's record path (keeps a renamed duplicate's "~" suffix)
                out.append((FileRef(src["path"], src["sha256"], int(src.get("size", 0))), doc))
        return out

    def process_batch(self, datums: Sequence[DatumContext]) -> list[Outputs]:
        by_model: dict[str, list[int]] = {}
        detectors: dict[str, tuple[Detector, dict[str, Any]]] = {}
        for i, ctx in enumerate(datums):
            det = self._detector(ctx)
            detectors[det[1]["sha256"]] = det
            by_model.setdefault(det[1]["sha256"], []).append(i)
        results: list[Outputs] = [{} for _ in datums]
        for oid, indexes in by_model.items():
            detector, info = detectors[oid]
            frames = [(i, f, m) for i in indexes for f, m in self._frames(datums[i])]
            skipped = [(i, f, m) for i, f, m in frames if m is not None and not m["motion"]["detect"]]
            for i, f, note in skipped:
                assert note is not None
                frame = FramePath.parse(note["_path"])
                shape = (int(note["height"] or 1), int(note["width"] or 1))
                results[i][frame.path(".json")] = _record(frame, f, shape, info, [], note)
            todo = [(i, f, m) for i, f, m in frames if m is None or m["motion"]["detect"]]
            cache = shared_frames()  # validate's decoded pixels when this process has them, else a decode
            images = [_decoded(cache, datums[i], f) for i, f, _ in todo]
            frames_of = [FramePath.parse(f.path if m is None else m["_path"]) for _, f, m in todo]
            by_size: dict[tuple[int, int], list[int]] = {}
            for k, (frame, img) in enumerate(zip(frames_of, images, strict=True)):
                size = self.input_size.for_frame(frame.device, (img.shape[1], img.shape[0]), detector.input_size)
                by_size.setdefault(size, []).append(k)
            for size, ks in by_size.items():
                sized = self._sized_detector(oid, detector, size)
                model_info = {**info, "input_size": list(size)}
                for k, dets in zip(ks, sized.detect([images[k] for k in ks]), strict=True):
                    (i, f, m), img, frame = todo[k], images[k], frames_of[k]
                    out = results[i]
                    out[frame.path(".json")] = _record(frame, f, img.shape, model_info, dets.to_records(), m)
                    if self.annotate:
                        out[frame.path(".jpg")] = encode_jpeg(annotate(img, dets), 85)
        return results

    def _sized_detector(self, oid: str, detector: Detector, size: tuple[int, int]) -> Detector:
        """The model's detector at ``size`` (one per model and size; all share the loaded model)."""
        key = (oid, size)
        if key not in self._sized:
            self._sized[key] = detector.resized(size)
        return self._sized[key]


def _decoded(cache: FrameCache, ctx: DatumContext, f: FileRef) -> Any:
    with into(ctx.notes):  # a decoder's warnings about the frame go to its datum's log
        return cache.decoded(f.oid, partial(ctx.read, f))


def _record(frame: FramePath, src: Any, shape: tuple[int, ...], model: dict[str, Any],
            objects: list[dict[str, Any]], motion: dict[str, Any] | None) -> bytes:
    doc: dict[str, Any] = {
        "camera": frame.camera, "tenant": frame.tenant, "device": frame.device, "ts": frame.ts,
        "source": {"path": src.path, "sha256": src.oid}, "width": int(shape[1]), "height": int(shape[0]),
        "model": model, "objects": objects,
    }
    if motion is not None:
        doc["motion"] = motion["motion"]
        if not motion["motion"]["detect"]:
            doc["skipped"] = motion["motion"]["reason"]
    return encode_record(doc)


__all__ = ["DetectStage"]
