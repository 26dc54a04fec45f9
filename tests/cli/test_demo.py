"""`vigil demo` through the real console script: the 2017 design end to end on its own sample stills."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.console import MISSING, VIGIL
from tests.shared_data import SHARED, require


@pytest.mark.skipif(MISSING, reason="the `vigil` console script is not installed")
def test_demo_on_the_seed_stills(tmp_path: Path) -> None:
    mirror = f"{require(SHARED / 'models')}:{require(SHARED / 'data' / 'seed')}"
    env = {k: v for k, v in os.environ.items() if k != "VIGIL_WORKSPACE"}
    env.update(VIGIL_MIRROR=mirror, VIGIL_CACHE=str(tmp_path / "cache"), COLUMNS="240", NO_COLOR="1")
    # as after `make demo` in a fresh shell: the venv is not activated, so `vigil` is not on PATH
    bin_dir = str(Path(str(VIGIL)).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != bin_dir)
    proc = subprocess.run([str(VIGIL), "demo", str(tmp_path / "demo")], env=env, capture_output=True, text=True,
                          timeout=300)
    out = proc.stdout
    assert proc.returncode == 0, f"vigil demo exited {proc.returncode}:\n{out}\n{proc.stderr}"
    assert "validate: 7 valid, 1 invalid" in out
    assert re.search(r"invalid /blah\.jpg: name: ", out), out
    frames = {m[0]: m[1] for m in re.findall(r"^\s+(/dev\d/\d{10}\.json)\s+(.*)$", out, re.M)}
    assert len(frames) == 7, out
    assert frames["/dev4/1511891463.json"].count("person") >= 8  # bank queue
    assert "person" in frames["/dev1/1511891155.json"]  # street
    assert "dog" in frames["/dev2/1511891326.json"]
    assert frames["/dev4/1511891512.json"].count("car") >= 3  # night driveway
    # threats per camera: rule.json (person, car, motorcycle, truck) raises nothing for the dog
    table = dict(re.findall(r"^\W*(dev\d)\W+(\d+)\W*$", out, re.M))
    assert table == {"dev1": "3", "dev2": "0", "dev3": "1", "dev4": "2"}, out
    # the dashboard: how to serve it and an operator token that works (shown once)
    assert re.search(r"-w \S*demo serve$", out, re.M), out
    [token] = re.findall(r"^\s+(vgl_[0-9a-f]{12}_\S+)$", out, re.M)
    from vigil.app import App

    who = App.open(tmp_path / "demo").verify_token(token)
    assert who is not None and who.role == "operator" and who.tenant is None
    assert "6 event(s)" in out
    reports = [line.strip() for line in out.split("report:", 1)[1].split("\n\n", 1)[0].splitlines()[1:]]
    assert reports and all(Path(p).is_file() for p in reports), out
    # the closing hint's commands work as printed (issue 18 item 5: it used to say `vigil`, not on PATH)
    explore = [line.strip() for line in out.split("Explore:", 1)[1].split("\n\n", 1)[0].splitlines()
               if line.startswith("  ")]
    assert len(explore) == 3, out
    for command in explore:
        done = subprocess.run(command, shell=True, env=env, capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0, f"{command}: {done.stderr}"
    # one evidence picture per frame with events (dev1 3, dev3 1, dev4 2), full size, boxes drawn on it
    evidence = sorted((tmp_path / "demo" / "evidence").rglob("*.jpg"))
    assert [p.relative_to(tmp_path / "demo" / "evidence").as_posix() for p in evidence] == [
        "dev1/1511891098.jpg", "dev1/1511891155.jpg", "dev1/1511891255.jpg", "dev3/1511891385.jpg",
        "dev4/1511891463.jpg", "dev4/1511891512.jpg"], out
    for p in evidence:
        camera, ts = p.parent.name, p.stem
        drawn = cv2.imread(str(p))
        plain = cv2.imread(str(next(Path(SHARED / "data" / "seed").glob(f"{camera}_{ts}.jpg"))))
        assert drawn.shape == plain.shape
        assert np.abs(drawn.astype(int) - plain.astype(int)).max() > 100, f"{p}: no box drawn"
    # the delivery path: no mail server configured, so the demo's `file` channel wrote one e-mail per alert
    # (bursts of one camera grouped: dev1's three frames and dev4's two are one alert each), evidence inline
    import email
    import email.policy

    emls = sorted((tmp_path / "demo" / "alerts").rglob("*.eml"))
    assert [p.parent.name for p in emls] == ["dev1", "dev3", "dev4"], out
    for p in emls:
        msg = email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        assert str(msg["Message-ID"]).startswith("<vigil.") and "(rule.json)" in str(msg["Subject"])
        assert [part.get_content_type() for part in msg.walk() if part.get_content_maintype() == "image"] == [
            "image/jpeg"]
    assert "add an SMTP channel" in out
