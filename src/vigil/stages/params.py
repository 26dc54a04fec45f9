"""The params of each built-in stage, as pydantic models (``extra="forbid"``: a typo is an error, not ignored).

Only pydantic here: ``pipeline validate`` checks a spec's params without loading OpenCV or a model. Nested
settings (validate's ``config``, motion's ``settings``) are checked by their own models when the stage starts.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class StageParams(BaseModel):
    """Params every stage takes."""

    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(8, ge=1, le=1024, description="datums per batch (and images per inference call)")


class NoopParams(StageParams):
    pass


class ValidateParams(StageParams):
    input: str = Field("images", description="the input holding the frames")
    config: dict[str, Any] = Field(default_factory=dict, description="quality thresholds (ValidationConfig)")


class MotionParams(StageParams):
    input: str = Field("validate", description="the input holding the valid frames")
    settings: dict[str, Any] = Field(default_factory=dict, description="motion settings (MotionSettings)")


class DetectParams(StageParams):
    motion: str | None = Field(None, description="the motion input, when detection is gated by motion")
    images: str | None = Field(None, description="the input holding the frames (default: motion or validate)")
    model: str = Field("model", description="the input holding the .onnx model")
    kind: str | None = Field(None, description="detector family (default: from the model catalogue)")
    annotate: bool = Field(False, description="also write an annotated JPEG per frame")
    score_threshold: float = Field(0.3, ge=0.0, le=1.0, description="keep detections with score >= this")
    nms_iou: float = Field(0.45, gt=0.0, le=1.0, description="class-wise NMS IoU threshold")
    threads: int = Field(2, ge=1, le=256, description="onnxruntime intra-op threads")
    classes: list[int | str] | None = Field(None, description="COCO-80 class names or indices to keep")
    input_size: Any = Field(None, description="network input size, per camera (InputSizeSettings)")
    merge_classes: list[list[int | str]] = Field(default_factory=list,
                                                 description="groups of classes suppressed together by NMS")


class ThreatParams(StageParams):
    detections: str = Field("detect", description="the input holding the detection records")
    rules: str = Field("rules", description="the input holding the rule set")


class ReportParams(StageParams):
    input: str = Field("threat", description="the input holding the threat records")
    timezone: str = Field("UTC", description="IANA time zone of the report's days")


PARAMS: dict[str, type[StageParams]] = {
    "noop": NoopParams,
    "validate": ValidateParams,
    "motion": MotionParams,
    "detect": DetectParams,
    "threat": ThreatParams,
    "report": ReportParams,
}
