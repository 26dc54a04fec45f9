"""Camera health through the camera pipeline: synthetic frozen, black and moved sequences built from the
car-park clip raise exactly their events (started, then recovered); the normal clip raises none. Offline is
judged on a clock (domain tests)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.stages.conftest import Camera, new_camera

T0 = 1_700_000_000
HEALTH_RULES = textwrap.dedent("""\
    version: 1
    rules:
      - id: frozen
        health: {condition: frozen, frames: 8}
        severity: high
        notify: [{channel: email, to: guard@example.com}]
      - id: blinded
        health: {condition: blinded, frames: 4}
        severity: critical
      - id: moved
        health: {condition: moved, frames: 3}
        severity: high
    """)


def _shift(jpeg: bytes) -> bytes:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    h, w = img.shape[:2]
    moved = cv2.warpAffine(img, np.float32([[1, 0, w * 0.2], [0, 1, h * 0.1]]), (w, h),
                           borderMode=cv2.BORDER_REFLECT)
    return bytes(cv2.imencode(".jpg", moved, [cv2.IMWRITE_JPEG_QUALITY, 95])[1])


def _black(jpeg: bytes) -> bytes:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return bytes(cv2.imencode(".jpg", (img // 60).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 95])[1])


def sequences(car_park: list[bytes]) -> dict[str, list[bytes]]:
    """30 frames each: 10 normal, 12 with the fault, 8 normal again (quiet stretch of the car park)."""
    normal = car_park[10:40]
    return {
        "normal": normal,
        "frozen": normal[:10] + [normal[10]] * 12 + normal[22:],
        "black": normal[:10] + [_black(f) for f in normal[10:22]] + normal[22:],
        "moved": normal[:10] + [_shift(f) for f in normal[10:]],
    }


@pytest.fixture
def health_camera(tmp_path: Path, vigil_env: dict[str, str], car_park: list[bytes]) -> Camera:
    cam = new_camera(tmp_path)
    cam.app.model_add("yolox-nano")
    cam.put("images", {f"{name}_{T0 + i}.jpg": data
                       for name, frames in sequences(car_park).items() for i, data in enumerate(frames)})
    cam.rules("rules.yaml", HEALTH_RULES)
    cam.app.create_pipelines(cam.spec)
    cam.run()
    return cam


def test_health_sequences_raise_exactly_their_events(health_camera: Camera) -> None:
    raised = sorted((e["device"], e["ts"] - T0, e["rule_id"], e["state"])
                    for events in health_camera.events().values() for e in events)
    assert raised == [
        ("black", 13, "blinded", "started"),  # 4th black frame (10..13)
        ("black", 22, "blinded", "recovered"),
        ("frozen", 18, "frozen", "started"),  # the 8th repeat of frame 10 (11..18 equal their predecessor)
        ("frozen", 22, "frozen", "recovered"),
        ("moved", 12, "moved", "started"),  # 3rd frame of the new view
    ], raised
    events = {e["rule_id"]: e for evs in health_camera.events().values() for e in evs if e["state"] == "started"}
    frozen = events["frozen"]
    assert frozen["severity"] == "high" and frozen["objects"] == [] and frozen["health"] == "frozen"
    assert frozen["notify"] == [{"channel": "email", "to": "guard@example.com", "sender": None}]
    assert set(frozen) >= {"event_id", "rule_id", "severity", "tenant", "device", "ts", "source", "objects",
                           "notify", "description"}
    assert frozen["source"] == f"/frozen/{T0 + 18}.json"
    black = health_camera.docs("detect")[f"/black/{T0 + 11}.json"]
    assert black["skipped"] == "unusable" and "black" in black["motion"]["reasons"]
