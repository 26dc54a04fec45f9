"""Ground truth for detection evaluation: the ``gt.json`` format and the predicted-class map.

``gt.json`` (see ``shared/data/README.md``) is a list of images::

    {"image": "images/a.jpg", "width": 768, "height": 576,
     "boxes": [{"label": "person", "x1": 1, "y1": 2, "x2": 30, "y2": 80, "ignore": true}]}

Boxes are 0-based pixel corners; ``label`` is a COCO-80 class name; ``ignore: true`` marks a don't-care
region (see :mod:`vigil.evaluation.metrics` for how it is matched). The records forbid unknown keys so that a
typo such as ``"ignroe"`` fails loudly instead of silently turning a don't-care region into a positive; the
optional keys the real data sets carry (``sequence``, ``frame_index``, ``track_id``, ``visibility``, ...) are
declared explicitly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vigil.domain.coco import COCO80_NAMES, class_index
from vigil.errors import NotFoundError, SpecError, UsageError

__all__ = ["ClassMap", "GtBox", "ImageTruth", "TruthArrays", "load_ground_truth", "truth_arrays"]


class GtBox(BaseModel):
    """One labelled box; ``ignore`` marks a don't-care region."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str
    x1: float
    y1: float
    x2: float
    y2: float
    ignore: bool = False
    # Provenance attributes present in the shipped data sets; kept, never used for scoring.
    iscrowd: bool | None = None
    truncated: bool | None = None
    src_class: str | None = None
    track_id: int | None = None
    visibility: float | None = None

    @field_validator("label")
    @classmethod
    def _known_label(cls, value: str) -> str:
        try:
            return COCO80_NAMES[class_index(value)]
        except ValueError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _positive_extent(self) -> GtBox:
        coords = (self.x1, self.y1, self.x2, self.y2)
        if not all(np.isfinite(coords)):
            raise ValueError(f"box coordinates must be finite, got {coords}")
        if not (self.x2 > self.x1 and self.y2 > self.y1):
            raise ValueError(
                f"box needs x2 > x1 and y2 > y1, got x1={self.x1} y1={self.y1} x2={self.x2} y2={self.y2}"
            )
        return self

    @property
    def class_id(self) -> int:
        return class_index(self.label)


class ImageTruth(BaseModel):
    """The labelled boxes of one image."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str = Field(min_length=1)
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    boxes: tuple[GtBox, ...]
    sequence: str | None = None
    frame_index: int | None = None
    gt_source: str | None = None
    coco_image_license: str | None = None


@dataclass(frozen=True)
class TruthArrays:
    """One image's ground truth: ``xyxy`` float64 (M, 4), ``class_id`` int64 (M,), ``ignore`` bool (M,)."""

    xyxy: npt.NDArray[np.float64]
    class_id: npt.NDArray[np.int64]
    ignore: npt.NDArray[np.bool_]

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float64).reshape(-1, 4)
        class_id = np.asarray(self.class_id, dtype=np.int64).reshape(-1)
        ignore = np.asarray(self.ignore, dtype=np.bool_).reshape(-1)
        if not len(xyxy) == len(class_id) == len(ignore):
            raise ValueError(
                f"TruthArrays disagree: xyxy has {len(xyxy)} rows (expected shape (M, 4)), "
                f"class_id has {len(class_id)}, ignore has {len(ignore)}; all must have M entries"
            )
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "class_id", class_id)
        object.__setattr__(self, "ignore", ignore)

    @classmethod
    def from_record(cls, record: ImageTruth) -> TruthArrays:
        return cls(
            np.array([[b.x1, b.y1, b.x2, b.y2] for b in record.boxes], np.float64).reshape(-1, 4),
            np.array([b.class_id for b in record.boxes], np.int64),
            np.array([b.ignore for b in record.boxes], np.bool_),
        )


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "<entry>"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def load_ground_truth(path: str | Path) -> list[ImageTruth]:
    """Read and validate a ``gt.json`` file.

    Returns one :class:`ImageTruth` per entry, in file order. Raises :class:`NotFoundError` if the file is
    missing and :class:`SpecError` naming the file and the entry index (and the offending key) if the JSON is
    malformed, an entry is invalid (unknown key, unknown COCO label, empty or inverted box) or an image is
    listed twice.
    """
    path = Path(path)
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFoundError(f"ground-truth file {path} does not exist", "check the data set path") from None
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    if not isinstance(raw, list):
        raise SpecError(f"{path}: expected a JSON list of images, got {type(raw).__name__}")
    records: list[ImageTruth] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(raw):
        try:
            record = ImageTruth.model_validate(entry)
        except ValidationError as exc:
            raise SpecError(f"{path}: entry {index}: {_describe(exc)}", "fix or remove that entry") from exc
        if record.image in seen:
            raise SpecError(
                f"{path}: entry {index}: image {record.image!r} already listed at entry {seen[record.image]}",
                "merge the boxes into one entry",
            )
        seen[record.image] = index
        records.append(record)
    return records


def truth_arrays(records: Sequence[ImageTruth]) -> dict[str, TruthArrays]:
    """Ground truth keyed by image name, as arrays for :func:`vigil.evaluation.metrics.evaluate`."""
    return {r.image: TruthArrays.from_record(r) for r in records}


@dataclass(frozen=True)
class ClassMap:
    """Renames predicted COCO-80 classes before matching (e.g. a detector's ``truck`` scored as ``car``).

    ``mapping`` takes a source COCO-80 index to a target index; classes not in it keep their index. The map is
    applied once to predictions only, never to ground truth.
    """

    mapping: Mapping[int, int]

    @classmethod
    def identity(cls) -> ClassMap:
        return cls({})

    @classmethod
    def parse(cls, spec: str) -> ClassMap:
        """Parse ``"truck,bus=car"``; groups are separated by ``;``: ``"truck,bus=car;motorcycle=bicycle"``.

        Names are COCO-80 class names (case-insensitive). Raises :class:`UsageError` for a malformed group,
        an unknown name, a source mapped to two targets, or a chain (a target that is itself a source).
        """
        mapping: dict[int, int] = {}
        for group in filter(None, (g.strip() for g in spec.split(";"))):
            sources_text, eq, target_text = group.partition("=")
            sources = [s.strip() for s in sources_text.split(",")]
            if not eq or not target_text.strip() or not all(sources):
                raise UsageError(
                    f"class map group {group!r} is malformed",
                    'write "source[,source...]=target", e.g. "truck,bus=car"',
                )
            target = _class(target_text, group)
            for source in sources:
                src = _class(source, group)
                if mapping.get(src, target) != target:
                    raise UsageError(
                        f"class map sends {COCO80_NAMES[src]!r} to both {COCO80_NAMES[mapping[src]]!r} and "
                        f"{COCO80_NAMES[target]!r}",
                        "keep one target per class",
                    )
                mapping[src] = target
        chained = sorted(COCO80_NAMES[t] for s, t in mapping.items() if t != s and mapping.get(t, t) != t)
        if chained:
            raise UsageError(
                f"class map targets {', '.join(chained)} are themselves remapped; the map is applied once",
                "map every source straight to its final class",
            )
        return cls({s: t for s, t in mapping.items() if s != t})

    def apply(self, class_id: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.int64]:
        """The mapped COCO-80 indices of ``class_id`` (a new int64 array)."""
        table = np.arange(len(COCO80_NAMES), dtype=np.int64)
        for src, dst in self.mapping.items():
            table[src] = dst
        return table[np.asarray(class_id, dtype=np.int64)]

    def groups(self) -> list[list[int]]:
        """Each target with the classes mapped to it, target first (``"truck,bus=car"`` -> [[car, truck, bus]]):
        the ``merge_classes`` groups whose boxes NMS should suppress together."""
        by_target: dict[int, list[int]] = {}
        for src, dst in sorted(self.mapping.items()):
            by_target.setdefault(dst, [dst]).append(src)
        return [by_target[t] for t in sorted(by_target)]

    def __str__(self) -> str:
        by_target: dict[int, list[str]] = {}
        for src, dst in sorted(self.mapping.items()):
            by_target.setdefault(dst, []).append(COCO80_NAMES[src])
        return ";".join(f"{','.join(srcs)}={COCO80_NAMES[dst]}" for dst, srcs in sorted(by_target.items()))


def _class(name: str, group: str) -> int:
    try:
        return class_index(name)
    except ValueError as exc:
        raise UsageError(f"class map group {group!r}: {exc}", "use COCO-80 class names") from None
