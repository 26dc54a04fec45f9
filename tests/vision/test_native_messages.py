"""libjpeg's raw warnings never reach the terminal (issue 10 item 9): they go to the datum's log (or the log at
INFO outside a datum); whatever else is written to fd 2 meanwhile still reaches the terminal."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.pipeline.builders import make_app, make_pipelines
from vigil.pipeline import datum_records
from vigil.vision.image import decode_image
from vigil.vision.native_messages import captured, into

WARNING = "Corrupt JPEG data: 1 extraneous bytes before marker 0xd9"


def damaged_jpeg() -> bytes:
    """A decodable JPEG on which libjpeg warns: three stray bytes before its end marker."""
    ramp = np.tile(np.linspace(0, 255, 96, dtype=np.uint8), (64, 1))
    ok, enc = cv2.imencode(".jpg", cv2.merge([ramp, ramp[::-1], ramp]))
    assert ok
    data = enc.tobytes()
    end = data.rfind(b"\xff\xd9")
    return data[:end] + b"\x00\x01\x02" + data[end:]


def test_decoder_warning_goes_to_the_sink_not_the_terminal(capfd: pytest.CaptureFixture[str]) -> None:
    notes: list[str] = []
    with into(notes):
        image = decode_image(damaged_jpeg())
    assert image.shape == (64, 96, 3)
    assert notes == [f"decoder: {WARNING}"]
    assert "Corrupt JPEG" not in capfd.readouterr().err


def test_outside_a_datum_the_warning_is_logged_at_info(capfd: pytest.CaptureFixture[str],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="vigil.vision.native_messages"):
        decode_image(damaged_jpeg())
    assert [r.getMessage() for r in caplog.records] == [f"decoder: {WARNING}"]
    assert "Corrupt JPEG" not in capfd.readouterr().err


def test_other_output_written_meanwhile_still_reaches_the_terminal(capfd: pytest.CaptureFixture[str]) -> None:
    notes: list[str] = []
    with into(notes), captured():
        os.write(2, b"progress: 3 of 9\n")
        decode_image(damaged_jpeg())
    err = capfd.readouterr().err
    assert "progress: 3 of 9" in err and "Corrupt JPEG" not in err
    assert notes == [f"decoder: {WARNING}"]


def test_validate_datum_log_holds_the_warning(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    app = make_app(tmp_path / "ws")
    app.store.create_repo("images")
    with app.store.begin_commit("images") as c:
        c.put_bytes("/cam1_1511891098.jpg", damaged_jpeg())
    make_pipelines(app, 'pipeline: {name: validate}\ninput: {pfs: {repo: images, glob: "/*"}}\n'
                        "transform: {stage: validate, params: {input: images}}\n")
    (job,) = app.run("validate")
    assert job.state == "SUCCESS", job
    (datum,) = datum_records.for_job(app.store, job.id)
    assert f"decoder: {WARNING}" in datum["log"]
    assert "Corrupt JPEG" not in capfd.readouterr().err
    app.executor.close()
