"""The dashboard's pages through a real uvicorn server with httpx: login and sessions, CSRF on every POST,
tenant isolation of every page, feedback changing precision, the System page's dead-letter retry."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import httpx
import pytest

from tests.alerts.builders import Site as AlertSite
from tests.alerts.conftest import webhook_channel
from tests.alerts.servers import HttpReceiver
from tests.web.builders import Site, build_site, serving
from tests.web.pages import csrf_of, log_in
from vigil.app import App
from vigil.web.pages.session import COOKIE

PAGES = ("/ui/review", "/ui/cameras", "/ui/reports", "/ui/rules", "/ui/reports/events.csv")


def _others(site: Site) -> set[str]:
    """What acme must never see: globex's and the tenant-less camera's ids, names and rules."""
    return {*site.events["globex"], *site.events[""], *site.cameras["globex"], *site.cameras[""], "globex-car"}


@pytest.mark.parametrize("path", [*PAGES, "/ui/system", "/ui/events/x", "/ui/cameras/acme-gate/latest.jpg"])
def test_every_page_needs_a_session(base: str, path: str) -> None:
    r = httpx.get(base + path)
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login?next=")
    assert httpx.get(base + path, headers={"Accept": "application/json"}).status_code == 401  # scripts


@pytest.mark.parametrize(("token", "status", "says"), [
    ("vgl_000000000000_nope", 401, "invalid or revoked token"),
    ("", 401, "invalid or revoked token"),
    ("acme-cam", 403, "a camera token cannot read events"),
])
def test_a_bad_token_is_refused_with_a_message_and_no_session(site: Site, base: str, token: str, status: int,
                                                               says: str) -> None:
    with httpx.Client(base_url=base) as client:
        form = client.get("/ui/login")
        r = client.post("/ui/login", data={"token": site.tokens.get(token, token), "csrf": csrf_of(form.text)})
        assert r.status_code == status and says in r.text
        assert client.get("/ui/review").status_code == 303


def test_login_needs_the_forms_csrf_token(site: Site, base: str) -> None:
    with httpx.Client(base_url=base) as client:
        r = client.post("/ui/login", data={"token": site.tokens["acme"], "csrf": "forged"})
        assert r.status_code == 403 and "did not come from this dashboard" in r.text
        assert client.get("/ui/review").status_code == 303  # not logged in


def test_the_session_cookie_is_httponly_samesite_and_never_holds_the_token(site: Site, base: str) -> None:
    with httpx.Client(base_url=base) as client:
        form = client.get("/ui/login")
        r = client.post("/ui/login", data={"token": site.tokens["acme"], "csrf": csrf_of(form.text),
                                           "next": "//evil.example/x"})
        assert r.headers["location"] == "/ui/review"  # no open redirect
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie
        secret = site.tokens["acme"].rsplit("_", 1)[1]
        assert secret not in cookie and secret not in httpx.Cookies(client.cookies).get(COOKIE, "")
        # a cookie edited by hand (or signed with another key) is no session
        client.cookies.set(COOKIE, client.cookies[COOKIE][:-3] + "abc")
        assert client.get("/ui/review").status_code == 303


def test_the_session_key_is_the_workspaces_and_survives_a_restart(site: Site) -> None:
    with serving(site.app, token_ttl=0.0) as first, log_in(first, site.tokens["acme"]) as client:
        cookies = httpx.Cookies(client.cookies)
    key = (site.app.workspace.config_dir / "session.key")
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_bytes()) == 32
    with serving(App.open(site.app.workspace.root), token_ttl=0.0) as second, \
            httpx.Client(base_url=second, cookies=cookies) as again:
        assert again.get("/ui/review").status_code == 200


def test_every_post_needs_the_sessions_csrf_token_and_writes_nothing_without_it(site: Site, base: str) -> None:
    with log_in(base, site.tokens["acme"]) as acme, log_in(base, site.tokens["globex"]) as globex:
        event = site.events["acme"][0]
        their_csrf = csrf_of(globex.get("/ui/review").text)
        for csrf in ("", "forged", their_csrf):  # none, made up, another session's
            r = acme.post(f"/ui/events/{event}/feedback", data={"verdict": "false_positive", "csrf": csrf})
            assert r.status_code == 403 and "did not come from this dashboard" in r.text
            assert acme.post("/ui/logout", data={"csrf": csrf}).status_code == 403
        assert "feedback" not in {r.name for r in site.app.store.list_repos()}
        assert acme.get("/ui/review").status_code == 200  # still logged in


def test_logout_ends_the_session(site: Site, base: str) -> None:
    with log_in(base, site.tokens["acme"]) as client:
        missing = client.get("/ui/nope")
        assert missing.status_code == 404 and "no such page" in missing.text and "/ui/review" in missing.text
        assert httpx.get(base + "/api/v1/nope").json()["error"]["type"] == "NotFoundError"  # the API: JSON
        r = client.post("/ui/logout", data={"csrf": csrf_of(client.get("/ui/review").text)})
        assert r.status_code == 303 and r.headers["location"] == "/ui/login"
        assert client.get("/ui/review").status_code == 303


def test_revoking_the_token_ends_its_sessions(site: Site, base: str) -> None:
    with log_in(base, site.tokens["acme"]) as client:
        token_id = site.tokens["acme"].split("_")[1]
        site.app.revoke_token(token_id)
        assert client.get("/ui/review").status_code == 303


def test_a_tenant_sees_only_its_own_data_on_every_page(site: Site, base: str) -> None:
    with log_in(base, site.tokens["acme"]) as client:
        others = _others(site)
        for path in PAGES:
            r = client.get(path)
            assert r.status_code == 200, (path, r.text)
            assert not {o for o in others if o in r.text}, path
        review = client.get("/ui/review").text
        assert all(e in review for e in site.events["acme"])
        for event in [*site.events["globex"], *site.events[""]]:
            for suffix in ("", "/thumbnail.jpg", "/evidence.jpg"):
                assert client.get(f"/ui/events/{event}{suffix}").status_code == 404
            r = client.post(f"/ui/events/{event}/feedback", data={"verdict": "true_positive",
                                                                   "csrf": csrf_of(review)})
            assert r.status_code == 404
        for camera in [*site.cameras["globex"], *site.cameras[""]]:
            assert client.get(f"/ui/cameras/{camera}/latest.jpg").status_code == 404
            assert client.get(f"/ui/cameras/{camera}/frames/1700000002.jpg").status_code == 404
            text = client.get("/ui/review", params={"camera": camera}).text  # echoes only what it was asked
            assert not {o for o in others if o in text and o != camera} and "No events match" in text
        assert client.get("/ui/system").status_code == 404  # the whole site's state: every-tenant tokens only
        rows = list(csv.DictReader(io.StringIO(client.get("/ui/reports/events.csv").text)))
        assert sorted(r["event_id"] for r in rows) == sorted(site.events["acme"])


def test_filters_narrow_the_review_list(site: Site, base: str) -> None:
    with log_in(base, site.tokens["admin"]) as client:
        page = client.get("/ui/review", params={"camera": "acme-yard"}).text
        shown = set(re.findall(r'data-id="([0-9a-f]{64})"', page))
        yard = {e for e in site.events["acme"] if "acme-yard" in site.app.event(_admin(site), e)["camera"]}
        assert shown == yard and len(shown) == 3
        dogs = set(re.findall(r'data-id="([0-9a-f]{64})"', client.get("/ui/review", params={"label": "dog"}).text))
        assert dogs == set(site.events[""])
        r = client.get("/ui/review", params={"since": "2023-11-14T22:15", "until": "not a time"})
        assert r.status_code == 400 and "is not a time" in r.text


def _admin(site: Site):  # type: ignore[no-untyped-def]
    return site.app.verify_token(site.tokens["admin"])


def test_a_verdict_updates_precision_and_the_reviewed_filter(site: Site, base: str) -> None:
    with log_in(base, site.tokens["acme"]) as client:
        event = site.events["acme"][0]
        page = client.get(f"/ui/events/{event}").text
        assert "no verdicts yet" in page
        r = client.post(f"/ui/events/{event}/feedback", data={"verdict": "false_positive", "csrf": csrf_of(page)})
        assert r.status_code == 303 and r.headers["location"] == f"/ui/events/{event}"
        assert "0% (0 true, 1 false of 6 events)" in client.get(f"/ui/events/{event}").text
        r = client.post(f"/ui/events/{site.events['acme'][1]}/feedback", headers={"Accept": "application/json"},
                        data={"verdict": "true_positive", "csrf": csrf_of(page)})
        assert r.json()["rule_precision"]["precision"] == 0.5
        reviewed = client.get("/ui/review", params={"reviewed": "yes"}).text
        assert set(re.findall(r'data-id="([0-9a-f]{64})"', reviewed)) == {event, site.events["acme"][1]}


def test_admin_retries_a_dead_letter_from_the_system_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_TEST_WEBHOOK_SECRET", "whsec_" + "A" * 43 + "=")
    receiver = HttpReceiver()
    receiver.answers = [(410, {}, 0.0)] * 50  # Gone: dead at once
    try:
        app = App.init(tmp_path / "ws")
        AlertSite.configure(app.workspace, {"channels": {"hook": webhook_channel(receiver)}})
        app.close()
        site = build_site(App.open(tmp_path / "ws"), per_camera=1)
        dead = site.app.alerts.deliveries(state="dead")
        assert dead
        with serving(site.app, token_ttl=0.0) as base, log_in(base, site.tokens["admin"]) as client:
            page = client.get("/ui/system").text
            assert "Dead letters" in page and dead[0]["alert_id"][:12] in page and "410" in page
            r = client.post(f"/ui/system/deliveries/{dead[0]['id']}/retry", data={"csrf": "forged"})
            assert r.status_code == 403
            r = client.post(f"/ui/system/deliveries/{dead[0]['id']}/retry", data={"csrf": csrf_of(page)})
            assert r.status_code == 303
            assert [d["id"] for d in site.app.alerts.deliveries(state="pending")] == [dead[0]["id"]]
            event_page = client.get(f"/ui/events/{dead[0]['event_id']}").text
            assert "hook" in event_page and "pending" in event_page  # the event's deliveries
    finally:
        receiver.close()


def test_rules_back_test_runs_edited_rules_on_the_tenants_own_frames_only(site: Site, base: str) -> None:
    with log_in(base, site.tokens["acme"]) as acme, log_in(base, site.tokens["admin"]) as admin:
        page = acme.get("/ui/rules").text
        assert "acme-person" in page and "globex-car" not in page
        text = re.search(r'<textarea id="bt-rules" name="rules"[^>]*>(.*?)</textarea>', page, re.S)
        assert text is not None and "acme-person" in text.group(1)

        def backtest(client: httpx.Client, rules: str, csrf: str | None = None) -> httpx.Response:
            token = csrf if csrf is not None else csrf_of(client.get("/ui/rules").text)
            return client.post("/ui/rules/backtest", data={"rules": rules, "csrf": token})

        import html
        same = backtest(acme, html.unescape(text.group(1)))
        assert same.status_code == 200 and re.search(r'id="bt-total">6<', same.text)  # as the rules in force
        cars = "version: 1\nrules:\n  - {id: spy, classes: [car], severity: low}\n"
        assert re.search(r'id="bt-total">0<', backtest(acme, cars).text)  # globex's cars are not acme's frames
        assert re.search(r'id="bt-total">3<', backtest(admin, cars).text)
        bad = backtest(acme, "version: 1\nrules:\n  - {id: x, classes: [unicorn]}\n")
        assert bad.status_code == 400 and "unicorn" in bad.text and "classes: [unicorn]" in bad.text
        assert backtest(acme, cars, csrf="forged").status_code == 403
    assert {r.name for r in site.app.store.list_repos()} == {"validate", "detect", "threat", "rules"}
