"""The dashboard in a real headless Chromium (Debian's, driven by Playwright; deploy/browser/install.sh), over
the demo workspace (the 2017 design's six events, from the real model) served with its runner:

log in, review the six events with their thumbnails, filter, mark with the keyboard, open an event, mark it
false positive and see its rule's precision change; a frame pushed through the API becomes an event on the open
review page without a reload; a second tenant sees none of it; accessibility basics (labels, alt texts,
contrast, keyboard focus) and a phone-sized screen. Screenshots of every page go to $VIGIL_SCREENSHOTS (or the
test's tmp folder)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.shared_data import SHARED, require, unavailable
from tests.web.builders import serving
from vigil.app import App

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]
pytestmark = pytest.mark.browser

# WCAG AA: text contrast of at least 4.5:1 against what is behind it (the nearest opaque background).
CONTRAST = """(selector) => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = ([r, g, b]) => {
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const bg = (el) => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
    if (c.length === 3 || c[3] > 0.9) return c.slice(0, 3); } return [255, 255, 255]; };
  return Array.from(document.querySelectorAll(selector)).filter((el) => el.offsetParent && el.textContent.trim())
    .map((el) => { const a = lum(rgb(getComputedStyle(el).color)), b = lum(bg(el));
      return [el.textContent.trim().slice(0, 30), (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)]; });
}"""
UNLABELLED = """() => Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
  .filter((el) => !el.labels.length && !el.getAttribute('aria-label')).map((el) => el.outerHTML)"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is absent: run deploy/browser/install.sh")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The demo workspace (run in this process), served with its runner; tokens of an operator of every
    tenant, a camera, and an operator of tenant acme."""
    from vigil.demo import run_demo

    mirror = f"{require(SHARED / 'models')}:{require(SHARED / 'data' / 'seed')}"
    folder = tmp_path_factory.mktemp("demo") / "demo-workspace"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIGIL_MIRROR", mirror)
        mp.setenv("VIGIL_CACHE", str(folder.parent / "cache"))
        run_demo(folder)
        app = App.open(folder)
        tokens = {"operator": app.create_token(None, "operator")[0], "camera": app.create_token(None, "camera")[0],
                  "acme": app.create_token(None, "operator", "acme")[0]}
        with serving(app, runner=True, interval=0.2, token_ttl=0.0) as base:
            yield {"base": base, "tokens": tokens}


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("VIGIL_SCREENSHOTS")
    folder = Path(where) if where else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _log_in(browser: Any, base: str, token: str, **context: Any) -> Any:
    page = browser.new_context(**context).new_page()
    page.goto(f"{base}/ui/review")
    assert page.url.startswith(f"{base}/ui/login?next=")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/ui/review")
    return page


def _cards(page: Any) -> list[str]:
    return [c.get_attribute("data-id") for c in page.locator(".card").all()]


def _precision(page: Any) -> str:
    return str(page.locator("#rule-precision .value").inner_text())


def test_operator_reviews_the_demo_and_a_second_tenant_sees_none_of_it(browser: Any, demo: dict[str, Any],
                                                                         shots: Path) -> None:
    base = demo["base"]
    login = browser.new_page()
    login.goto(f"{base}/ui/login")
    login.screenshot(path=str(shots / "login.png"))
    login.close()

    page = _log_in(browser, base, demo["tokens"]["operator"], viewport={"width": 1280, "height": 900})
    assert len(_cards(page)) == 6  # the demo's six events
    page.wait_for_function("() => Array.from(document.querySelectorAll('.card img'))"
                           ".every((i) => i.complete && i.naturalWidth > 0)")  # thumbnails, boxes drawn
    assert page.locator(".burst").count() >= 3  # grouped per camera and burst (dev1, dev3, dev4)
    page.screenshot(path=str(shots / "review.png"), full_page=True)
    readme = os.environ.get("VIGIL_README_SCREENSHOT")
    if readme:  # `VIGIL_README_SCREENSHOT=docs/review.png pytest tests/web/test_browser.py` refreshes it
        shutil.copyfile(shots / "review.png", readme)

    # filter: one camera
    page.get_by_label("Camera").select_option("dev1")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**camera=dev1**")
    assert len(_cards(page)) == 3 and page.locator(".burst h2").all_inner_texts()[0].startswith("dev1")

    # keyboard: j selects the first event, t marks it true positive (no reload), j + Enter opens the next
    marker = page.evaluate("() => (window.__same_page = Math.random())")
    page.keyboard.press("j")
    first = page.evaluate("() => document.activeElement.dataset.id")
    assert first == _cards(page)[0]
    page.keyboard.press("t")
    page.locator(f'.card[data-id="{first}"] .verdict.tp').wait_for()
    page.locator("#precision .value", has_text="100%").wait_for()
    assert page.evaluate("() => window.__same_page") == marker
    page.keyboard.press("j")
    second = page.evaluate("() => document.activeElement.dataset.id")
    assert second == _cards(page)[1]
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/ui/events/{second}")

    # the event: evidence with boxes, why, lineage, frames around it; false positive -> precision changes
    page.wait_for_function("() => document.querySelector('.evidence img').naturalWidth > 0")
    for heading in ("Why it fired", "Frames around it", "Lineage", "Alert deliveries"):
        assert page.get_by_role("heading", name=heading).is_visible()
    assert "person" in page.locator("table.kv").first.inner_text()
    assert "demo-mail" in page.locator("text=Alert deliveries >> xpath=..").inner_text()
    before = _precision(page)
    assert before.startswith("100% (1 true, 0 false")
    page.get_by_role("button", name="False positive").click()
    page.wait_for_url(f"**/ui/events/{second}")
    assert _precision(page).startswith("50% (1 true, 1 false") and _precision(page) != before
    assert page.locator(".verdict.fp").first.is_visible()
    page.screenshot(path=str(shots / "event.png"), full_page=True)

    for name in ("cameras", "reports", "rules", "system"):
        page.goto(f"{base}/ui/{name}")
        assert page.locator("h1").is_visible()
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        if name == "reports":
            assert page.locator("svg.chart rect").count() >= 2 and page.locator("table.heat td").count() >= 24
            assert "50%" in page.locator("text=Per rule >> xpath=..").inner_text()
        if name == "cameras":
            assert page.locator(".tile").count() == 4  # dev1..dev4
            page.wait_for_function("() => Array.from(document.querySelectorAll('.tile img'))"
                                   ".every((i) => i.complete && i.naturalWidth > 0)")

    # a second tenant's operator sees none of it
    other = _log_in(browser, base, demo["tokens"]["acme"])
    assert _cards(other) == [] and other.get_by_text("No events match").is_visible()
    assert other.goto(f"{base}/ui/events/{second}").status == 404
    other.goto(f"{base}/ui/cameras")
    assert other.locator(".tile").count() == 0
    assert other.goto(f"{base}/ui/system").status == 404
    other.context.close()
    page.context.close()


def test_a_pushed_frame_appears_on_the_review_page_without_reload(browser: Any, demo: dict[str, Any],
                                                                 shots: Path) -> None:
    base = demo["base"]
    page = _log_in(browser, base, demo["tokens"]["operator"])
    before = _cards(page)
    marker = page.evaluate("() => (window.__same_page = Math.random())")
    frame = require(SHARED / "data" / "seed" / "dev4_1511891463.jpg").read_bytes()  # the bank queue: people
    r = httpx.post(f"{base}/api/v1/cameras/dev4/frames", params={"ts": int(time.time())}, content=frame,
                   headers={"Authorization": f"Bearer {demo['tokens']['camera']}", "Content-Type": "image/jpeg"})
    assert r.status_code == 201, r.text
    # validate, motion, detect, threat and the events index run in the server's runner; the page polls
    page.wait_for_function(f"() => document.querySelectorAll('.card').length > {len(before)}", timeout=120_000)
    assert page.evaluate("() => window.__same_page") == marker  # no reload
    new = [c for c in _cards(page) if c not in before]
    assert new and _cards(page)[0] in new  # newest first
    assert "new event" in page.locator("#live").inner_text()
    page.screenshot(path=str(shots / "review-live.png"), full_page=True)
    page.context.close()


def test_accessibility_basics_and_a_phone_screen(browser: Any, demo: dict[str, Any], shots: Path) -> None:
    base = demo["base"]
    page = _log_in(browser, base, demo["tokens"]["operator"], viewport={"width": 390, "height": 844},
                   is_mobile=True, has_touch=True)
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")  # no sideways
    page.screenshot(path=str(shots / "review-phone.png"), full_page=True)
    for path in ("/ui/review", f"/ui/events/{_cards(page)[0]}", "/ui/cameras", "/ui/reports", "/ui/rules",
                 "/ui/system"):
        page.goto(base + path)
        assert page.evaluate(UNLABELLED) == [], path  # every control has a label
        assert page.locator("img:not([alt])").count() == 0, path
        assert page.locator("html[lang]").count() == 1 and page.locator("h1").count() == 1, path
        low = [(text, round(ratio, 2)) for text, ratio in page.evaluate(
            CONTRAST, "body, a, button, label, .sev, .verdict, .health, .keys, time, .objects, th, td, small")
            if ratio < 4.5]
        assert low == [], (path, low)
    # keyboard: the first Tab reaches the skip link, which moves focus to the content
    page.goto(base + "/ui/review")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    page.context.close()

