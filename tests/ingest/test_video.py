"""A video file at --fps: the first frame of each 1/fps slot is kept, named as validate expects (milliseconds in
the folder when more than one frame a second is kept), and committed in groups through the group committer."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import av
import pytest

from tests.ingest.conftest import FRAME_PATH, frames
from vigil.app import App
from vigil.domain.identity import parse_name
from vigil.store import history

START = 1_511_891_000
CLIP = "pets2009_s2l1_dev_7fps.mp4"  # 318 frames, 7 fps, 45.4 s


def vigil(app: App, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vigil.cli.main", "--workspace", str(app.workspace.root), *args],
                          capture_output=True, text=True, timeout=300, check=False)


def frame_times(clip: Path) -> list[float]:
    with av.open(str(clip)) as container:
        times = [float(f.time) for f in container.decode(video=0)]
    return [t - times[0] for t in times]


def expected(times: list[float], fps: float | None, precise: bool) -> list[tuple[int, int | None]]:
    """(seconds, milliseconds) of the kept frames: the first of each slot of 1/fps seconds."""
    kept, last = [], -1
    for t in times:
        slot = math.floor(t * fps + 1e-9) if fps else last + 1
        if slot > last:
            last = slot
            ts = START + t
            sec = math.floor(ts)
            kept.append((sec, min(round((ts - sec) * 1000), 999) if precise else None))
    return kept


@pytest.mark.parametrize(("fps", "precise"), [(1.0, False), (2.5, True), (None, True)])
def test_video_file_at_fps_gives_the_expected_frames_and_names(app: App, video_dir: Path, fps: float | None,
                                                               precise: bool) -> None:
    clip = video_dir / CLIP
    args = ["ingest", str(clip), "--camera", "acme-lobby", "--start", str(START), "--group-frames", "20"]
    done = vigil(app, *args, *(["--fps", str(fps)] if fps else []))
    assert done.returncode == 0, done.stderr
    paths = frames(app)
    want = expected(frame_times(clip), fps, precise)
    got = []
    for path in paths:
        match = FRAME_PATH.match(path)
        assert match is not None, path
        assert match["camera"] == "acme-lobby"
        identity = parse_name(path)  # the name validate reads: tenant, device, whole seconds
        assert identity is not None and (identity.tenant, identity.device) == ("acme", "lobby")
        assert identity.ts == int(match["ts"])
        got.append((int(match["ts"]), int(match["ms"]) if match["ms"] else None))
    assert sorted(got) == want
    if fps is None:
        assert len(paths) == 318  # every frame
    log = history.log(app.store, "images", None, 1000)
    # groups of --group-frames (the file reads faster than --group-seconds); groups that wait while a commit is
    # made go together into the next one, as concurrent pushes do
    assert 1 <= len(log) <= math.ceil(len(paths) / 20)
    assert sum(c.n_added for c in log) == len(paths)
    assert all(c.origin == "push" for c in log)  # the push committer's commits


def test_a_missing_video_file_is_one_clear_error(app: App, tmp_path: Path) -> None:
    done = vigil(app, "ingest", str(tmp_path / "nope.mp4"), "--camera", "cam1")
    assert done.returncode == 3
    assert "no video file" in done.stderr and "Traceback" not in done.stderr
    assert frames(app) == []


@pytest.mark.parametrize(("camera", "message"), [("-bad", "not a camera name"), ("a/b", "not a camera name")])
def test_bad_camera_names_are_refused(app: App, video_dir: Path, camera: str, message: str) -> None:
    done = vigil(app, "ingest", str(video_dir / CLIP), f"--camera={camera}")
    assert done.returncode == 2
    assert message in done.stderr
