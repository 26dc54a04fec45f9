"""Camera tiles: frames today, invalid ratio and reasons from the validate repo, health by the usual interval."""

from __future__ import annotations

import json
from pathlib import Path

from tests.web.builders import build_site
from vigil.app import App


def test_tiles_count_todays_frames_and_invalid_reasons_and_judge_health(tmp_path: Path) -> None:
    site = build_site(App.init(tmp_path / "ws"), per_camera=3)  # frames at 1_700_000_000 + 60 i (+ n)
    app = site.app
    day = 1_700_000_000 - 1_700_000_000 % 86400
    with app.store.begin_commit("validate") as c:  # two invalid frames of acme-gate that day, one the day before
        for ts, codes in ((1_700_000_030, ["black"]), (1_700_000_090, ["black", "blurry"]), (day - 5, ["blank"])):
            name = f"/invalid/acme-gate/{ts:010d}-abc/acme-gate_{ts:010d}.jpg"
            c.put_bytes(name, b"x")
            c.put_bytes(name + ".reasons.json", json.dumps({"reasons": [{"code": k, "message": k} for k in codes]})
                        .encode())
    acme = app.verify_token(site.tokens["acme"])
    assert acme is not None
    tiles = {t["camera"]: t for t in app.camera_tiles(acme, now=1_700_000_120 + 30)}
    assert sorted(tiles) == ["acme-gate", "acme-yard"]  # the tenant's cameras only
    gate = tiles["acme-gate"]
    assert (gate["frames"], gate["invalid"]) == (5, 2) and gate["invalid_ratio"] == 0.4
    assert gate["reasons"] == {"black": 2, "blurry": 1}
    assert (gate["state"], gate["interval"]) == ("ok", 60.0)
    later = {t["camera"]: t for t in app.camera_tiles(acme, now=1_700_000_120 + 3600)}
    assert later["acme-gate"]["state"] == "offline"
    app.close()
