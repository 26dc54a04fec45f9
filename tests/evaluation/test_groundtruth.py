"""Loading gt.json and parsing class maps."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.shared_data import unavailable
from vigil.domain.coco import class_index
from vigil.errors import NotFoundError, SpecError, UsageError
from vigil.evaluation.groundtruth import ClassMap, load_ground_truth, truth_arrays

DATA = Path(os.environ.get("VIGIL_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
EVAL_SETS = sorted(p.parent.name for p in (DATA / "eval").glob("*/gt.json"))
IN_CI = os.environ.get("CI") == "true"


def entry(image: str = "a.jpg", **box: Any) -> dict[str, Any]:
    b = {"label": "person", "x1": 1, "y1": 2, "x2": 30.5, "y2": 80, **box}
    return {"image": image, "width": 640, "height": 480, "boxes": [b]}


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "gt.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_loads_records_and_arrays(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [entry(), entry("b.jpg", label="Car", ignore=True, track_id=3), {**entry("c.jpg"), "boxes": []}],
    )
    records = load_ground_truth(path)
    assert [r.image for r in records] == ["a.jpg", "b.jpg", "c.jpg"]
    assert records[1].boxes[0].label == "car"
    arrays = truth_arrays(records)
    np.testing.assert_array_equal(arrays["a.jpg"].xyxy, [[1, 2, 30.5, 80]])
    assert arrays["b.jpg"].class_id.tolist() == [class_index("car")]
    assert arrays["b.jpg"].ignore.tolist() == [True]
    assert arrays["c.jpg"].xyxy.shape == (0, 4)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"image": "a.jpg"}, "expected a JSON list"),
        ("[{", "not valid JSON at line 1"),
        ([entry(), {**entry("b.jpg"), "camera": 3}], r"entry 1: camera: Extra inputs"),
        ([entry(), entry("b.jpg", ignroe=True)], r"entry 1: boxes\.0\.ignroe: Extra inputs"),
        (
            [entry(label="persn")],
            r"entry 0: boxes\.0\.label: .*unknown class name 'persn'.*did you mean person",
        ),
        ([entry(x2=0)], r"entry 0: boxes\.0: .*x2 > x1"),
        ([entry(y1=float("nan"))], r"entry 0: boxes\.0: .*finite"),
        ([{**entry(), "width": 0}], r"entry 0: width"),
        ([entry(), entry("b.jpg"), entry()], r"entry 2: image 'a.jpg' already listed at entry 0"),
    ],
)
def test_rejects_invalid_files_naming_file_and_entry(tmp_path: Path, data: Any, match: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(SpecError, match=match) as info:
        load_ground_truth(path)
    assert str(path) in str(info.value)


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        load_ground_truth(tmp_path / "nope.json")


@pytest.mark.parametrize("name", EVAL_SETS or ["<none>"])
def test_loads_every_real_ground_truth_file(name: str) -> None:
    if not EVAL_SETS:
        unavailable(f"shared evaluation data absent at {DATA / 'eval'}")
    path = DATA / "eval" / name / "gt.json"
    records = load_ground_truth(path)
    raw = json.loads(path.read_text())
    assert len(records) == len(raw) > 0
    assert sum(len(r.boxes) for r in records) == sum(len(e["boxes"]) for e in raw)
    assert sum(b.ignore for r in records for b in r.boxes) == sum(
        bool(b.get("ignore")) for e in raw for b in e["boxes"]
    )
    for r in records:
        for b in r.boxes:
            assert 0 <= b.x1 < b.x2 <= r.width and 0 <= b.y1 < b.y2 <= r.height


def test_every_real_data_set_is_present() -> None:
    if len(EVAL_SETS) != 5:
        unavailable(f"../shared/data/eval holds {EVAL_SETS}, not the 5 labelled sets")


@pytest.mark.parametrize(
    ("spec", "expected", "error"),
    [
        ("truck,bus=car", {"truck": "car", "bus": "car"}, None),
        (
            " Truck , bus = car ; motorcycle=bicycle ;",
            {"truck": "car", "bus": "car", "motorcycle": "bicycle"},
            None,
        ),
        ("car=car", {}, None),
        ("", {}, None),
        ("truck,bus", None, "malformed"),
        ("truck,=car", None, "malformed"),
        ("truck=", None, "malformed"),
        ("lorry=car", None, "unknown class name 'lorry'"),
        ("truck=car;truck=bus", None, "sends 'truck' to both 'car' and 'bus'"),
        ("truck=car;car=bus", None, "targets car are themselves remapped"),
    ],
)
def test_class_map_parse(spec: str, expected: dict[str, str] | None, error: str | None) -> None:
    if error is not None:
        with pytest.raises(UsageError, match=error):
            ClassMap.parse(spec)
        return
    cmap = ClassMap.parse(spec)
    assert dict(cmap.mapping) == {class_index(s): class_index(t) for s, t in (expected or {}).items()}


def test_class_map_applies_and_round_trips() -> None:
    cmap = ClassMap.parse("truck,bus=car")
    ids = np.array([class_index(n) for n in ("truck", "person", "bus", "car")])
    assert cmap.apply(ids).tolist() == [class_index("car"), class_index("person"), class_index("car"), 2]
    assert ClassMap.parse(str(cmap)) == cmap
    assert str(ClassMap.identity()) == ""


def test_class_map_groups_are_merge_classes() -> None:
    ci = class_index
    groups = ClassMap.parse("truck,bus=car;motorcycle=bicycle").groups()
    assert groups == [[ci("bicycle"), ci("motorcycle")], [ci("car"), ci("bus"), ci("truck")]]
    assert ClassMap.identity().groups() == []
