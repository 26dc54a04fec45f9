"""Tenant isolation, fuzzed: tenant A's tokens against every endpoint with tenant B's ids, names and paths.

Two properties per request: nothing of B (nor of cameras with no tenant) is in the answer other than what the
request itself said, and the answer is the same as for an id that does not exist at all (so existence does not
leak either: 404, never 403)."""

from __future__ import annotations

import re
import secrets

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.web.builders import Site, build_site, serving
from tests.web.conftest import auth
from vigil.app import App

OPERATIONS = ("/metrics", "/healthz", "/readyz")
QUERY_KEYS = ("tenant", "camera", "rule", "label", "path", "ref", "pipeline", "from", "cursor")


def _operations(schema: dict[str, object]) -> list[tuple[str, str]]:
    ops = []
    for path, methods in schema["paths"].items():  # type: ignore[attr-defined]
        for method in methods:
            if method == "get" or path.endswith("/feedback"):
                ops.append((method.upper(), path))
    return sorted(ops)


def _fake(value: str) -> str:
    """An id of the same shape that exists nowhere."""
    if re.fullmatch(r"[0-9a-f]{64}", value):
        return secrets.token_hex(32)
    if re.fullmatch(r"[0-9a-f]{12}", value):
        return secrets.token_hex(6)
    return value.replace("globex", "nosuch").replace("lobby", "nosuch")


def _secrets_of_others(site: Site) -> set[str]:
    hidden = {*site.events["globex"], *site.events[""], *site.cameras["globex"], *site.cameras[""],
              *site.frames["globex"], *site.frames[""], "globex-car", "anyone"}
    hidden |= {t.id for t in site.app.list_tokens() if t.tenant != "acme"}
    return hidden


def test_tenant_a_never_sees_anything_of_tenant_b(tmp_path) -> None:  # type: ignore[no-untyped-def]
    site = build_site(App.init(tmp_path / "ws"), per_camera=2)
    hidden = _secrets_of_others(site)
    values = sorted(hidden | {"globex", "/globex-dock/1700000002.json", "threat", "validate"})
    with serving(site.app, token_ttl=0.0) as base, httpx.Client(base_url=base) as client:
        ops = _operations(client.get("/openapi.json").json())
        tokens = [site.tokens["acme"], site.tokens["acme-cam"], site.app.create_token(None, "admin", "acme")[0],
                  site.app.create_token(None, "viewer", "acme", ["acme-gate"])[0]]

        def call(method: str, path: str, value: str, key: str, token: str) -> tuple[int, str]:
            url = re.sub(r"\{[^}:]+(:path)?\}", value.lstrip("/") if "{path" in path else value, path)
            body = {"verdict": "true_positive"} if method == "POST" else None
            r = client.request(method, url, params={key: value}, json=body, headers=auth(token))
            return r.status_code, r.text

        def probe(op: tuple[str, str], value: str, key: str, token: str) -> None:
            status, text = call(*op, value, key, token)
            assert status < 500, (op, value, text)
            leaked = {h for h in hidden if h in text and h not in value}
            assert not leaked, (op, value, leaked)
            if op[1] in OPERATIONS:  # no token, no tenant data; counters move between two calls
                return
            fake = _fake(value)
            fake_status, fake_text = call(*op, fake, key, token)
            assert (status, text.replace(value, "<v>")) == (fake_status, fake_text.replace(fake, "<v>")), (op, value)

        # every endpoint with every value of B once (tokens and query keys rotating), then random combinations
        for i, (op, value) in enumerate((op, value) for op in ops for value in values):
            probe(op, value, QUERY_KEYS[i % len(QUERY_KEYS)], tokens[i % len(tokens)])
        fuzz = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))(
            given(op=st.sampled_from(ops), value=st.sampled_from(values), key=st.sampled_from(QUERY_KEYS),
                  token=st.sampled_from(tokens))(probe))
        fuzz()
    assert "feedback" not in {r.name for r in site.app.store.list_repos()}  # nothing written on B's events
