"""The detector interface, its config, the shared post-processing, and ``load_detector``.

A :class:`Detector` turns a batch of BGR images (any sizes) into one
:class:`~vigil.domain.detections.Detections` per image, with boxes in original-image pixels. Each model family
lives in its own module (``yolox``, ``fastestdet``) and is registered by name in :func:`detector_kinds`
(an explicit dict, no import side effects).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from pydantic import BaseModel, ConfigDict, Field, field_validator

from vigil.domain.detections import Detections
from vigil.errors import ModelError, NotFoundError, UsageError

log = logging.getLogger(__name__)


class DetectorConfig(BaseModel):
    """Inference settings shared by every detector."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    score_threshold: float = Field(
        default=0.3, ge=0.0, le=1.0, description="keep detections with score >= this"
    )
    nms_iou: float = Field(default=0.45, gt=0.0, le=1.0, description="class-wise NMS IoU threshold")
    classes: list[int] | None = Field(default=None, description="COCO-80 indices to keep; None keeps all")
    threads: int = Field(default=2, ge=1, le=256, description="onnxruntime intra-op threads")
    batch_size: int = Field(
        default=8, ge=1, le=1024, description="images per inference call (dynamic-batch models)"
    )
    input_size: tuple[int, int] | None = Field(
        default=None, description="network (width, height); None: the model's own (its graph's fixed size)"
    )
    merge_classes: list[list[int]] = Field(
        default_factory=list,
        description="groups of COCO-80 indices suppressed together by NMS (one box per object when the model "
        "hesitates between car and truck); each kept box keeps its own class",
    )

    @field_validator("classes")
    @classmethod
    def _coco80(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and any(not 0 <= c < 80 for c in v):
            raise ValueError(f"classes must be 0-based COCO-80 indices in 0..79, got {v}")
        return v

    @field_validator("input_size")
    @classmethod
    def _positive(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and not (16 <= v[0] <= 4096 and 16 <= v[1] <= 4096):
            raise ValueError(f"input_size must be (width, height) in 16..4096 pixels, got {v}")
        return v

    @field_validator("merge_classes")
    @classmethod
    def _disjoint_groups(cls, v: list[list[int]]) -> list[list[int]]:
        seen: set[int] = set()
        for group in v:
            if any(not 0 <= c < 80 for c in group):
                raise ValueError(f"merge_classes groups must hold COCO-80 indices in 0..79, got {group}")
            if seen & set(group):
                raise ValueError(f"class {sorted(seen & set(group))[0]} is in two merge_classes groups")
            seen |= set(group)
        return v

    def nms_groups(self, class_ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int32]:
        """The id NMS batches each box by: its class, or for a class in a ``merge_classes`` group, the
        group's first class (boxes of one group then suppress each other whatever their class)."""
        groups = class_ids.astype(np.int32)
        for group in self.merge_classes:
            groups[np.isin(class_ids, np.asarray(group, np.int64))] = group[0]
        return groups


class Detector(Protocol):
    """Anything that detects objects in batches of BGR images."""

    name: str
    input_size: tuple[int, int]  # (width, height) the network sees

    def detect(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        """One :class:`Detections` per image, boxes in that image's pixels, sorted by score descending."""
        ...

    def resized(self, input_size: tuple[int, int]) -> Detector:
        """This detector at another network (width, height), sharing its loaded model; ``ModelError`` if the
        model's graph cannot take that size."""
        ...


class DetectorClass(Protocol):
    """The constructor every registered detector class offers."""

    def __call__(
        self,
        model_path: Path,
        config: DetectorConfig | None = None,
        *,
        session: ort.InferenceSession | None = None,
    ) -> Detector: ...


def detector_kinds() -> dict[str, DetectorClass]:
    """The registry: model kind name -> detector class.

    The imports are local because each detector module imports this one (config, NMS).
    """
    from vigil.vision.fastestdet import FastestDetDetector
    from vigil.vision.yolox import YoloxDetector

    return {"yolox": YoloxDetector, "fastestdet": FastestDetDetector}


def open_session(model_path: Path, threads: int) -> ort.InferenceSession:
    """An onnxruntime CPU session with ``threads`` intra-op threads; ``ModelError`` if the file is bad."""
    if not model_path.is_file():
        raise NotFoundError(
            f"model file {model_path} does not exist", hint="run `vigil model pull NAME` or check the path"
        )
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # errors only: ort warns about unused initialisers in exported models
    try:
        return ort.InferenceSession(str(model_path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped exceptions
        raise ModelError(
            f"onnxruntime cannot load {model_path}: {exc}",
            hint="the file may be truncated or not ONNX; re-download it with `vigil model pull`",
        ) from exc


def finalize(
    xyxy: npt.NDArray[np.float32],
    scores: npt.NDArray[np.float32],
    class_ids: npt.NDArray[np.int64],
    image_shape: tuple[int, ...],
    config: DetectorConfig,
) -> Detections:
    """Candidate boxes (one class each, original-image pixels) -> final :class:`Detections`.

    Applies, in order: the score threshold, the class filter, class-wise NMS (``config.nms_iou``; classes of
    one ``config.merge_classes`` group count as one class there), clipping to the image (0..W, 0..H). The
    result is sorted by score, descending (ties keep candidate order).
    """
    keep = scores >= config.score_threshold
    if config.classes is not None:
        keep &= np.isin(class_ids, np.asarray(config.classes, np.int64))
    xyxy, scores, class_ids = xyxy[keep], scores[keep], class_ids[keep]
    if len(scores):
        xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
        nms_batched: Any = cv2.dnn.NMSBoxesBatched  # its stubs want lists; arrays are faster and work
        idx = np.asarray(
            nms_batched(xywh, scores, config.nms_groups(class_ids), 0.0, config.nms_iou), np.int64
        ).reshape(-1)
        idx = idx[np.argsort(-scores[idx], kind="stable")]
        xyxy, scores, class_ids = xyxy[idx], scores[idx], class_ids[idx]
    h, w = image_shape[:2]
    xyxy = np.clip(xyxy, 0.0, np.array([w, h, w, h], np.float32)).astype(np.float32)
    return Detections(xyxy, class_ids, scores)


def _kind_from_shapes(session: ort.InferenceSession) -> str | None:
    """Guess the model family from its tensor shapes: YOLOX emits (B, N, 85), FastestDet (B, 85, H, W)."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(outputs) != 1 or len(inputs[0].shape) != 4:
        return None
    out = outputs[0].shape
    if len(out) == 3 and out[2] == 85:
        return "yolox"
    if len(out) == 4 and out[1] == 85:
        return "fastestdet"
    return None


def load_detector(
    model_path: Path, kind: str | None = None, config: DetectorConfig | None = None
) -> Detector:
    """Load the detector for ``model_path``; the ONNX session is created once here.

    ``kind`` (a key of :func:`detector_kinds`) wins when given; otherwise it comes from the catalogue entry
    whose sha256 or file name matches the file, else from the model's input/output shapes. ``config`` None
    means the detector's own defaults. Raises ``NotFoundError`` (no file), ``ModelError`` (unloadable file,
    unknown kind, or a kind that cannot be inferred).
    """
    from vigil.vision.catalog import find_entry

    model_path = Path(model_path)
    kinds = detector_kinds()
    if kind is not None and kind not in kinds:
        raise ModelError(f"unknown detector kind {kind!r}", hint=f"use one of: {', '.join(sorted(kinds))}")
    session = open_session(model_path, config.threads if config else DetectorConfig().threads)
    if kind is None:
        entry = find_entry(model_path)
        kind = entry.kind if entry else _kind_from_shapes(session)
        how = f"catalogue entry {entry.name!r}" if entry else "tensor shapes"
        if kind is None:
            raise ModelError(
                f"cannot tell which detector family {model_path.name} is (not in the catalogue, "
                f"input/output shapes not recognised)",
                hint=f"name the kind explicitly, one of: {', '.join(sorted(kinds))}",
            )
        log.info("model %s: kind %s from %s", model_path.name, kind, how)
    return kinds[kind](model_path, config, session=session)


class OnnxDetector:
    """Shared plumbing for single-input, single-output ONNX detectors: session, batching, input checks.

    Subclasses set ``name`` and ``default_input_size`` and implement ``_preprocess`` (a chunk of images ->
    NCHW float32 blob + per-image metadata) and ``_postprocess`` (raw output rows -> Detections per image).
    """

    name: str = "onnx"
    default_input_size: tuple[int, int] = (416, 416)

    def __init__(
        self,
        model_path: Path,
        config: DetectorConfig | None = None,
        *,
        session: ort.InferenceSession | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        self.config = config if config is not None else self.default_config()
        self.session = session if session is not None else open_session(self.model_path, self.config.threads)
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ModelError(
                f"{self.model_path.name} is not a {self.name} model: expected one NCHW input, "
                f"got {[(i.name, i.shape) for i in inputs]}",
                hint="check the model file and the detector kind",
            )
        batch, _, h, w = inputs[0].shape
        self._input_name = inputs[0].name
        self._fixed_batch = batch if isinstance(batch, int) else None
        dw, dh = self.default_input_size
        own = (w if isinstance(w, int) else dw, h if isinstance(h, int) else dh)
        wanted = self.config.input_size or own
        if wanted != own and (isinstance(w, int) or isinstance(h, int)):
            raise ModelError(
                f"{self.model_path.name} accepts only {own[0]}x{own[1]} input, not {wanted[0]}x{wanted[1]}",
                hint="add the model with `vigil model add` where the onnx package is installed "
                "(`pip install 'vigil[models]'`): it makes the input size variable; or drop input_size",
            )
        self.check_input_size(wanted)
        self.input_size = wanted

    def check_input_size(self, size: tuple[int, int]) -> None:
        """Raise ``ModelError`` when the network cannot run at (width, height); subclasses narrow it."""

    def resized(self, input_size: tuple[int, int]) -> OnnxDetector:
        """The same detector (the same session: no second model load) run at another (width, height)."""
        if input_size == self.input_size:
            return self
        config = DetectorConfig.model_validate({**self.config.model_dump(), "input_size": input_size})
        return type(self)(self.model_path, config, session=self.session)

    @classmethod
    def default_config(cls) -> DetectorConfig:
        """The config used when none is given."""
        return DetectorConfig()

    def detect(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        """One :class:`Detections` per image (boxes in its pixels, by score descending).

        Works in chunks of ``config.batch_size`` images so memory is bounded by the batch size; a model with a
        fixed batch dimension of 1 is run once per image. Raises ``UsageError`` on a non-BGR-uint8 image.
        """
        for i, img in enumerate(images):
            _check_image(img, i)
        results: list[Detections] = []
        step = self.config.batch_size
        for start in range(0, len(images), step):
            chunk = images[start : start + step]
            blob, meta = self._preprocess(chunk)
            raw = self._infer(blob)
            results.extend(self._postprocess(raw, meta, chunk))
        return results

    def _infer(self, blob: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        step = self._fixed_batch or len(blob)
        outs = []
        for i in range(0, len(blob), step):
            part = blob[i : i + step]
            n = len(part)
            if n < step:  # a fixed batch > 1: pad the last chunk, drop the padding's output
                part = np.concatenate([part, np.zeros((step - n, *part.shape[1:]), part.dtype)])
            outs.append(self.session.run(None, {self._input_name: part})[0][:n])
        return np.concatenate(outs)

    def _preprocess(
        self, images: Sequence[npt.NDArray[np.uint8]]
    ) -> tuple[npt.NDArray[np.float32], list[float]]:
        raise NotImplementedError

    def _postprocess(
        self, raw: npt.NDArray[np.float32], meta: list[float], images: Sequence[npt.NDArray[np.uint8]]
    ) -> list[Detections]:
        raise NotImplementedError


def _check_image(img: npt.NDArray[np.uint8], index: int) -> None:
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        desc = f"shape {img.shape} dtype {img.dtype}" if isinstance(img, np.ndarray) else type(img).__name__
        raise UsageError(
            f"image {index} is not a BGR uint8 (H, W, 3) array: {desc}",
            hint="decode images with vigil.vision.image.decode_image",
        )
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise UsageError(
            f"image {index} is empty: shape {img.shape}", hint="skip empty images before detection"
        )
