"""The HTTP API through a real uvicorn server on 127.0.0.1, with httpx."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from tests.web.builders import Site, jpeg, serving
from tests.web.conftest import auth
from vigil.store import history


def test_a_pushed_frame_is_committed_before_the_reply_and_named_for_validate(site: Site, base: str) -> None:
    data = jpeg(7)
    r = httpx.post(f"{base}/api/v1/cameras/acme-gate/frames?ts=1764600000", content=data,
                   headers={**auth(site.tokens["acme-cam"]), "Content-Type": "image/jpeg"})
    assert r.status_code == 201, r.text
    [ack] = r.json()["frames"]
    assert ack["sha256"] == hashlib.sha256(data).hexdigest()
    assert ack["path"].endswith("/acme-gate_1764600000.jpg")  # <tenant>-<device>_<seconds>: what validate parses
    assert site.app.store.read_bytes("images", ack["commit"], ack["path"]) == data


def test_multipart_frames_share_one_commit_and_take_their_time_from_the_part_name(site: Site, base: str) -> None:
    files = [("frames", ("acme-yard_1764600001.jpg", jpeg(1), "image/jpeg")),
             ("frames", ("x.jpg", jpeg(2), "image/jpeg"))]
    r = httpx.post(f"{base}/api/v1/cameras/acme-yard/frames", files=files,
                   headers={**auth(site.tokens["acme"]), "X-Vigil-Timestamp": "2025-12-01T15:00:02Z"})
    assert r.status_code == 201, r.text
    acks = r.json()["frames"]
    assert [a["path"].rsplit("/", 1)[1] for a in acks] == ["acme-yard_1764600001.jpg", "acme-yard_1764601202.jpg"]
    assert len({a["commit"] for a in acks}) == 1


@pytest.mark.parametrize(("token", "camera", "body", "status", "kind"), [
    (None, "acme-gate", b"\xff\xd8\xff", 401, "AuthenticationError"),
    ("garbage", "acme-gate", b"\xff\xd8\xff", 401, "AuthenticationError"),
    ("acme-cam", "globex-dock", b"\xff\xd8\xff", 404, "NotFoundError"),  # another tenant's camera: not found
    ("acme-cam", "lobby", b"\xff\xd8\xff", 404, "NotFoundError"),  # a camera of no tenant
    ("acme-cam", "acme-gate", b"GIF89a", 415, "UnsupportedMediaError"),
    ("acme-cam", "acme-gate", b"\xff\xd8\xff" + b"\0" * 4096, 413, "PayloadTooLargeError"),
    ("viewer", "acme-gate", b"\xff\xd8\xff", 403, "ForbiddenError"),
    ("acme-cam", "acme-gate", b"", 415, "UnsupportedMediaError"),
])
def test_push_errors_are_json_with_the_cli_classes_and_a_hint(site: Site, token: str | None, camera: str,
                                                              body: bytes, status: int, kind: str) -> None:
    with serving(site.app, max_body=1024, token_ttl=0.0) as url:
        headers = auth(site.tokens.get(token or "", token or "")) if token else {}
        r = httpx.post(f"{url}/api/v1/cameras/{camera}/frames", content=body, headers=headers)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["type"] == kind and error["message"] and error["hint"]


def test_events_pages_cover_every_visible_event_once_newest_first(site: Site, base: str) -> None:
    seen: list[dict[str, object]] = []
    cursor = None
    while True:
        r = httpx.get(f"{base}/api/v1/events", params={"limit": 2, **({"cursor": cursor} if cursor else {})},
                      headers=auth(site.tokens["admin"]))
        assert r.status_code == 200, r.text
        seen += r.json()["events"]
        if (cursor := r.json()["next_cursor"]) is None:
            break
    ids = [e["event_id"] for e in seen]
    assert sorted(ids) == sorted(i for ids_ in site.events.values() for i in ids_)
    assert [e["ts"] for e in seen] == sorted((e["ts"] for e in seen), reverse=True)


@pytest.mark.parametrize(("params", "expected"), [
    ({"camera": "acme-gate"}, {"acme-gate"}), ({"label": "car"}, {"globex-dock"}), ({"severity": "low"}, {"lobby"}),
    ({"tenant": "acme"}, {"acme-gate", "acme-yard"}), ({"rule": "globex-car"}, {"globex-dock"}),
    ({"since": 1_700_000_060, "until": 1_700_000_061}, {"acme-gate"}),
])
def test_event_filters(site: Site, base: str, params: dict[str, object], expected: set[str]) -> None:
    r = httpx.get(f"{base}/api/v1/events", params=params, headers=auth(site.tokens["admin"]))
    assert {e["camera"] for e in r.json()["events"]} == expected


def test_event_detail_says_why_and_where_from_and_evidence_is_cached_by_etag(site: Site, base: str) -> None:
    eid = site.events["globex"][0]
    headers = auth(site.tokens["globex"])
    detail = httpx.get(f"{base}/api/v1/events/{eid}", headers=headers).json()
    assert detail["reason"]["rule"]["id"] == "globex-car" and detail["reason"]["rule"]["classes"] == ["car"]
    assert detail["reason"]["model"]["sha256"] == "f" * 64
    assert set(detail["lineage"]["commits"]) >= {"threat", "detect", "validate", "rules"}
    r = httpx.get(f"{base}/api/v1/events/{eid}/evidence.jpg", headers=headers)
    assert r.status_code == 200 and r.content.startswith(b"\xff\xd8") and r.headers["etag"]
    again = httpx.get(f"{base}/api/v1/events/{eid}/evidence.jpg",
                      headers={**headers, "If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    thumb = httpx.get(f"{base}/api/v1/events/{eid}/thumbnail.jpg", headers=headers)
    assert thumb.status_code == 200 and thumb.headers["etag"] != r.headers["etag"]


def test_feedback_is_versioned_indexed_and_gives_precision(site: Site, base: str) -> None:
    headers = auth(site.tokens["acme"])
    first, second = site.events["acme"][:2]
    for eid, verdict in ((first, "true_positive"), (second, "false_positive")):
        r = httpx.post(f"{base}/api/v1/events/{eid}/feedback", json={"verdict": verdict, "note": "seen"},
                       headers=headers)
        assert r.status_code == 201, r.text
    rows = httpx.get(f"{base}/api/v1/stats/precision", params={"by": "rule"}, headers=headers).json()
    assert rows == [{"rule": "acme-person", "events": 6, "reviewed": 2, "true_positive": 1, "false_positive": 1,
                     "precision": 0.5}]
    listed = httpx.get(f"{base}/api/v1/events", params={"verdict": "false_positive"}, headers=headers).json()
    assert [e["event_id"] for e in listed["events"]] == [second]
    assert len(history.log(site.app.store, "feedback")) == 2  # one commit per verdict, with history
    assert site.app.rebuild_indexes()["feedback-index"] == 2  # derivable from the feedback repo alone


def test_tokens_api_creates_lists_and_revokes(site: Site, base: str) -> None:
    admin = auth(site.tokens["admin"])
    made = httpx.post(f"{base}/api/v1/tokens", json={"role": "viewer", "tenant": "acme"}, headers=admin).json()
    assert httpx.get(f"{base}/api/v1/cameras", headers=auth(made["token"])).status_code == 200
    listed = httpx.get(f"{base}/api/v1/tokens", headers=admin).json()
    assert made["id"] in {t["id"] for t in listed} and all("token" not in t for t in listed)
    assert httpx.delete(f"{base}/api/v1/tokens/{made['id']}", headers=admin).json()["revoked_at"]
    assert httpx.get(f"{base}/api/v1/cameras", headers=auth(made["token"])).status_code == 401
    # a tenant's admin cannot mint tokens for another tenant
    acme_admin = site.app.create_token(None, "admin", "acme")[0]
    r = httpx.post(f"{base}/api/v1/tokens", json={"role": "admin"}, headers=auth(acme_admin))
    assert r.status_code == 403


def test_tools_read_and_write_repo_files(site: Site, base: str) -> None:
    admin = auth(site.tokens["admin"])
    r = httpx.put(f"{base}/api/v1/repos/rules/files/extra/note.txt", content=b"hello", headers=admin)
    assert r.status_code == 200, r.text
    commit = r.json()["id"]
    assert httpx.get(f"{base}/api/v1/repos/rules/files/extra/note.txt", headers=admin).content == b"hello"
    detail = httpx.get(f"{base}/api/v1/repos/rules/commits/{commit}", headers=admin).json()
    assert [c["path"] for c in detail["changes"]] == ["/extra/note.txt"]
    log = httpx.get(f"{base}/api/v1/repos/rules/commits", headers=admin).json()
    diff = httpx.get(f"{base}/api/v1/repos/rules/diff", params={"from": log[1]["id"]}, headers=admin).json()
    assert [c["path"] for c in diff] == ["/extra/note.txt"]
    # repos are not partitioned by tenant: a tenant's token does not see them at all
    assert httpx.get(f"{base}/api/v1/repos", headers=auth(site.tokens["acme"])).status_code == 404


def test_operations_endpoints(site: Site, base: str) -> None:
    assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
    ready = httpx.get(f"{base}/readyz").json()
    assert ready["checks"] == {"database": "ok", "objects": "ok"}
    httpx.post(f"{base}/api/v1/cameras/acme-gate/frames", content=jpeg(3), headers=auth(site.tokens["acme-cam"]))
    metrics = httpx.get(f"{base}/metrics").text
    assert "vigil_frames_ingested_total 1.0" in metrics
    assert "vigil_events_indexed 12.0" in metrics and "vigil_push_ack_seconds_bucket" in metrics
    schema = httpx.get(f"{base}/openapi.json").json()
    assert "/api/v1/cameras/{camera}/frames" in schema["paths"]
    assert json.dumps(schema).count("ErrorBody") > 10


def test_a_malformed_threat_record_is_skipped_not_fatal(site: Site) -> None:
    with site.app.store.begin_commit("threat") as c:
        c.put_bytes("/acme-gate/1800000000.json", b'{"camera": "acme-gate", "events": [{"rule_id": "x"}]}')
        c.put_bytes("/acme-gate/1800000001.json", b"not json")
    assert site.app.run_duties() > 0  # the index moved on past them
    assert site.app.rebuild_indexes()["events-index"] == 12


def test_every_view_and_export_of_evidence_is_audited_with_who_and_from_where(site: Site, base: str) -> None:
    eid = site.events["globex"][0]
    token_id = site.tokens["globex"].split("_")[1]
    headers = auth(site.tokens["globex"])
    before = site.app.audit_head().seq
    assert httpx.get(f"{base}/api/v1/events/{eid}", headers=headers).status_code == 200
    assert httpx.get(f"{base}/api/v1/events/{eid}/evidence.jpg", headers=headers).status_code == 200
    assert httpx.get(f"{base}/api/v1/events/{eid}/thumbnail.jpg", headers=headers).status_code == 200
    assert httpx.get(f"{base}/api/v1/events/{site.events['acme'][0]}", headers=headers).status_code == 404
    assert httpx.get(f"{base}/api/v1/events", headers=auth("vgl_0123456789ab_wrong")).status_code == 401
    new = [e for e in site.app.audit_log() if e.seq > before]
    views = [(e.action, e.object, e.actor, e.origin) for e in new if e.action.startswith("view.")]
    who = (f"token:{token_id}", "http:127.0.0.1")
    assert views == [("view.event", f"event:{eid}", *who), ("view.evidence", f"event:{eid}", *who),
                     ("view.thumbnail", f"event:{eid}", *who)]  # not the other tenant's event: never shown
    assert ("login", f"token:{token_id}") in {(e.action, e.object) for e in new}
    assert ("login.failed", "token:0123456789ab") in {(e.action, e.object) for e in new}
    admin = auth(site.tokens["admin"])
    assert httpx.get(f"{base}/api/v1/repos/rules/files/rules.yaml", headers=admin).status_code == 200
    exported = site.app.audit_log(action="export")[-1]
    assert exported.object == "rules@master:/rules.yaml" and len(exported.detail["oid"]) == 64
    assert site.app.audit_verify().ok
