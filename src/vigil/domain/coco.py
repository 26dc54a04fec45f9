"""COCO class tables: 0-based COCO-80 indices (what ONNX detectors emit) and TensorFlow label-map ids.

The 2017 design's ``rule.json`` names classes by TensorFlow object-detection label-map ids (the COCO-91 ids:
1 person, 3 car, 4 motorcycle, 8 truck, 17 cat, 18 dog). Detectors trained on COCO emit 0-based indices into the
80 used classes. The two tables below convert between them.
"""

from __future__ import annotations

COCO80_NAMES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)  # fmt: skip

# COCO-91 (TensorFlow label map) id of each COCO-80 index, in order.
COCO80_TO_TF_ID: tuple[int, ...] = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32, 33,
    34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61,
    62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90,
)  # fmt: skip

TF_ID_TO_COCO80: dict[int, int] = {tf_id: i for i, tf_id in enumerate(COCO80_TO_TF_ID)}
NAME_TO_COCO80: dict[str, int] = {name: i for i, name in enumerate(COCO80_NAMES)}


def class_name(coco80: int) -> str:
    """Name of a 0-based COCO-80 class index; ``ValueError`` if out of range."""
    if not 0 <= coco80 < len(COCO80_NAMES):
        raise ValueError(f"COCO-80 class index must be in 0..79, got {coco80}")
    return COCO80_NAMES[coco80]


def class_index(name: str) -> int:
    """0-based COCO-80 index of a class name (case-insensitive); ``ValueError`` naming close matches."""
    key = name.strip().lower()
    if key in NAME_TO_COCO80:
        return NAME_TO_COCO80[key]
    close = [n for n in COCO80_NAMES if key[:3] and n.startswith(key[:3])]
    hint = f"; did you mean {', '.join(close)}?" if close else "; see COCO80_NAMES for the 80 names"
    raise ValueError(f"unknown class name {name!r}{hint}")


def tf_id(coco80: int) -> int:
    """TensorFlow label-map (COCO-91) id of a COCO-80 index."""
    class_name(coco80)
    return COCO80_TO_TF_ID[coco80]
