"""validate_image on the seed images, 50 hostile files and real CCTV from the eval datasets."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageFile
from pydantic import ValidationError

from tests.shared_data import unavailable
from tests.vision.hostile import BASE_SEED, SEED, make_hostile_set
from vigil.errors import SpecError
from vigil.vision.quality import ValidationConfig, ValidationResult, validate_image

DATA = SEED.parent
EVAL = DATA / "eval"

if not SEED.is_dir():
    unavailable(f"test data not found at {DATA} (../shared/data)", module_level=True)

SEED_NAMES = sorted(p.name for p in SEED.glob("*.jpg"))
DEFAULT = ValidationConfig()


def _check(
    path: Path, config: ValidationConfig = DEFAULT, sidecar: dict[str, Any] | None = None
) -> ValidationResult:
    return validate_image(path.read_bytes(), path.name, config, sidecar)


def _exif_jpeg(when: str | None) -> bytes:
    exif = Image.Exif()
    if when is not None:
        exif.get_ifd(0x8769)[0x9003] = when
    buf = io.BytesIO()
    with Image.open(SEED / BASE_SEED) as im:
        im.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


@pytest.mark.parametrize("name", SEED_NAMES)
def test_seed_images(name: str) -> None:
    result = _check(SEED / name)
    if name == "blah.jpg":
        assert result.codes == ["name"] and not result.valid and result.identity is None
        return
    assert result.valid, result.reasons
    device, ts = name.removesuffix(".jpg").split("_")
    assert result.identity is not None
    assert (result.identity.device, result.identity.ts, result.identity.tenant) == (device, int(ts), None)
    assert result.format == "JPEG" and result.width and result.height
    assert set(result.metrics) == {"file_bytes", "luma_mean", "luma_std", "sharpness"}
    json.dumps(result.to_dict())


def test_hostile_set(tmp_path: Path) -> None:
    pillow_limit = Image.MAX_IMAGE_PIXELS
    expected = make_hostile_set(tmp_path)
    assert len(expected) == 50
    wrong = []
    for name, code in expected.items():
        result = validate_image((tmp_path / name).read_bytes(), name, DEFAULT)
        ok = result.valid if code == "valid" else (not result.valid and code in result.codes)
        if not ok:
            wrong.append(f"{name}: expected {code}, got {result.codes or 'valid'}")
        json.dumps(result.to_dict())
    assert not wrong, "\n".join(wrong)
    # Globals Pillow relies on for truncation and bomb checks are left as they were.
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert pillow_limit == Image.MAX_IMAGE_PIXELS


def _eval_sample(dataset: str, count: int = 8) -> list[Path]:
    entries = json.loads((EVAL / dataset / "gt.json").read_text())
    step = max(1, len(entries) // count)
    return [EVAL / dataset / e["image"] for e in entries[::step][:count]]


@pytest.mark.parametrize(
    "dataset", ["pets2009_s2l1", "highway_cctv_vehicles", "mot17_mini", "pennfudan_ped", "coco256"]
)
def test_real_images_pass_quality_defaults(dataset: str) -> None:
    config = ValidationConfig(require_identity=False)
    paths = _eval_sample(dataset)
    assert len(paths) == 8
    failed = {p.name: (r.codes, r.metrics) for p in paths if not (r := _check(p, config)).valid}
    assert not failed


def test_per_camera_override() -> None:
    config = ValidationConfig(cameras={"dev3*": {"min_sharpness": 100}, "dev3_*": {"min_width": 1}})
    assert config.for_device("dev1") is config
    strict = config.for_device("dev3")
    assert strict.min_sharpness == 100 and strict.cameras == {} and strict.min_width == 32
    assert _check(SEED / "dev3_1511891385.jpg", config).codes == ["blurry"]
    assert _check(SEED / "dev1_1511891155.jpg", config).valid


def test_later_camera_entries_win() -> None:
    config = ValidationConfig(cameras={"*": {"min_contrast": 3}, "gate*": {"min_contrast": 9}})
    assert config.for_device("gate1").min_contrast == 9
    assert config.for_device("yard").min_contrast == 3


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"max_pixel": 5}, "max_pixel"),
        ({"min_width": 50, "max_width": 40}, "min_width"),
        ({"timezone": "Mars/Olympus"}, "time zone"),
        ({"cameras": {"dev*": {"min_sharpnes": 1}}}, "dev"),
        ({"cameras": {"dev*": {"min_brightness": 300}}}, "min_brightness"),
    ],
)
def test_bad_config_is_a_spec_error(data: dict[str, object], match: str) -> None:
    with pytest.raises(SpecError, match=match):
        ValidationConfig.parse(data, where="vigil.yaml validate")
    with pytest.raises(ValidationError):
        ValidationConfig.model_validate(data)


def test_sidecar_names_a_badly_named_file() -> None:
    result = _check(SEED / "blah.jpg", sidecar={"device": "porch", "tenant": "acme", "ts": 1511891000})
    assert result.valid and result.identity is not None
    assert (result.identity.tenant, result.identity.device, result.identity.ts) == (
        "acme",
        "porch",
        1511891000,
    )
    assert result.identity.source == "sidecar"


def test_exif_time_read_in_camera_zone() -> None:
    data = _exif_jpeg("2017:11:28 12:44:58")
    config = ValidationConfig(timezone="America/New_York")
    result = validate_image(data, "IMG_0001.jpg", config, sidecar={"device": "porch"})
    assert result.valid and result.identity is not None
    assert (result.identity.ts, result.identity.source) == (1511891098, "exif")


@pytest.mark.parametrize(
    "data",
    [_exif_jpeg(None), _exif_jpeg("not a date at all"), (SEED / BASE_SEED).read_bytes()],
    ids=["no-datetime", "garbage-datetime", "no-exif"],
)
def test_exif_reason_only_when_time_is_needed(data: bytes) -> None:
    assert validate_image(data, "IMG_0001.jpg", DEFAULT, sidecar={"device": "porch"}).codes == ["exif"]
    assert validate_image(data, "porch_1511891098.jpg", DEFAULT).valid


def test_bad_sidecar_is_a_reason_not_a_crash() -> None:
    result = _check(SEED / "dev1_1511891155.jpg", sidecar={"device": "../etc", "ts": "soon"})
    assert result.codes == ["sidecar"]
    assert result.identity is not None and result.identity.device == "dev1"


def test_file_size_limit_skips_decoding() -> None:
    result = _check(SEED / "dev1_1511891155.jpg", ValidationConfig(max_file_bytes=1000))
    assert result.codes == ["file_size"] and result.format is None


def test_require_identity_off_keeps_unnamed_images() -> None:
    result = _check(SEED / "blah.jpg", ValidationConfig(require_identity=False))
    assert result.valid and result.identity is None


def test_all_reasons_collected() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, "GIF")
    assert set(validate_image(buf.getvalue(), "x.gif", DEFAULT).codes) == {"name", "too_small", "format"}
