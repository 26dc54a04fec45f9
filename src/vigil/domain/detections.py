"""The one canonical detection result type.

Every detector's raw output is converted into :class:`Detections` by a ``from_*`` function in ``vigil.vision``;
everything downstream (threat rules, drawing, evaluation, JSON records) consumes only this type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from vigil.domain.coco import COCO80_NAMES, COCO80_TO_TF_ID


@dataclass(frozen=True)
class Detections:
    """N detected objects in one image.

    ``xyxy``: float32 array (N, 4) of pixel boxes (x1, y1, x2, y2) in the original image;
    ``class_id``: int64 array (N,) of 0-based COCO-80 indices; ``score``: float32 array (N,) in [0, 1].
    """

    xyxy: npt.NDArray[np.float32]
    class_id: npt.NDArray[np.int64]
    score: npt.NDArray[np.float32]
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4) if np.size(self.xyxy) else np.zeros(
            (0, 4), np.float32
        )
        class_id = np.asarray(self.class_id, dtype=np.int64).reshape(-1)
        score = np.asarray(self.score, dtype=np.float32).reshape(-1)
        n = len(xyxy)
        if len(class_id) != n or len(score) != n:
            raise ValueError(
                f"Detections arrays disagree: xyxy has {n} rows (expected shape (N, 4)), "
                f"class_id has {len(class_id)}, score has {len(score)}; all must have N entries"
            )
        if n and (class_id.min() < 0 or class_id.max() >= len(COCO80_NAMES)):
            raise ValueError(f"class_id must be COCO-80 indices in 0..79, got {class_id.min()}..{class_id.max()}")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "class_id", class_id)
        object.__setattr__(self, "score", score)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.int64), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.score)

    @property
    def labels(self) -> list[str]:
        return [COCO80_NAMES[int(c)] for c in self.class_id]

    def filter(self, mask: npt.NDArray[np.bool_]) -> Detections:
        """The detections where ``mask`` is true (a boolean array of length N)."""
        return Detections(self.xyxy[mask], self.class_id[mask], self.score[mask], dict(self.extra))

    def to_records(self) -> list[dict[str, Any]]:
        """JSON-ready list: label, COCO-80 id, TF label-map id, score and box, boxes rounded to 0.01 px."""
        return [
            {
                "label": COCO80_NAMES[int(c)],
                "class_id": int(c),
                "tf_id": COCO80_TO_TF_ID[int(c)],
                "score": round(float(s), 6),
                "box": [round(float(v), 2) for v in box],
            }
            for box, c, s in zip(self.xyxy, self.class_id, self.score, strict=True)
        ]

    @classmethod
    def from_records(cls, records: list[dict[str, Any]]) -> Detections:
        """Inverse of :meth:`to_records` (ignores keys it does not need)."""
        if not records:
            return cls.empty()
        return cls(
            np.array([r["box"] for r in records], np.float32),
            np.array([r["class_id"] for r in records], np.int64),
            np.array([r["score"] for r in records], np.float32),
        )
