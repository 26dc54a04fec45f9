"""Chart geometry of the Reports page."""

from __future__ import annotations

from vigil.web.pages import charts


def test_hbars_scale_to_the_largest_and_sort_by_count() -> None:
    out = charts.hbars({"b": 2, "a": 4, "c": 0}, width=300, label_w=100)
    assert [(r["label"], r["value"]) for r in out["rows"]] == [("a", 4), ("b", 2), ("c", 0)]
    assert out["rows"][0]["w"] == 150 and out["rows"][1]["w"] == 75 and out["rows"][2]["w"] == 0


def test_days_stack_cameras_and_heatmap_fills_24_hours() -> None:
    daily = [{"day": 0, "camera": "x", "severity": "high", "events": 3},
             {"day": 0, "camera": "y", "severity": "low", "events": 1},
             {"day": 86400, "camera": "x", "severity": "low", "events": 2}]
    days = charts.stacked_days(daily, height=100)
    assert [c["total"] for c in days["columns"]] == [4, 2]
    assert [p["h"] for p in days["columns"][0]["parts"]] == [75.0, 25.0]
    assert days["columns"][0]["parts"][1]["y"] == 0.0  # stacked to the top
    heat = charts.heatmap([{"day": 0, "hour": 5, "events": 4}, {"day": 0, "hour": 6, "events": 2}])
    [row] = heat["rows"]
    assert len(row["cells"]) == 24 and row["cells"][5]["level"] == 1.0 and row["cells"][6]["level"] == 0.5
