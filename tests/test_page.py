"""The web page at / driven in headless Chromium against a real `genrec serve` process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest

from genrec.store import FeedbackEvent, ServedList, default_sqlite_url
from genrec.store.database import FeedbackStore

from synthetic import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
KEY = "browser-test-key-0123456789"


def _require_chromium() -> None:
    if Path(CHROMIUM).is_file():
        return
    reason = "Chromium is not installed (scripts/ci-services.sh installs it)"
    if os.environ.get("GENREC_REQUIRE_SERVICES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model_dir):
    _require_chromium()
    model_dir = tmp_path_factory.mktemp("model") / "m"
    shutil.copytree(tiny_model_dir, model_dir)  # the server writes its store beside the model
    served_before(default_sqlite_url(model_dir))
    port = free_port()
    env = {**os.environ, "GENREC_API_KEYS": KEY}
    log = (model_dir.parent / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "genrec.cli", "serve", "--model-dir", str(model_dir),
         "--port", str(port), "--log-level", "warning"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            pytest.fail(f"server exited: {(model_dir.parent / 'server.log').read_text()[-2000:]}")
        time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("server did not become ready in 120 s")
    yield url, model_dir
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def served_before(url: str) -> None:
    """Two earlier versions' lists over the last two days, the newer one accepted more."""
    rng = np.random.default_rng(0)
    now = datetime.now(UTC)
    lists, events = [], []
    for n in range(600):
        version, rate = ("v-old", 0.25) if n % 2 else ("v-new", 0.4)
        when = now - timedelta(hours=47 - n * 46 / 600 + (24 if version == "v-old" else 0))
        items = [f"{'ab'[j % 2]}{j // 2}" for j in rng.permutation(20)[:5]]
        rec_id = f"sim-{n}"
        lists.append(ServedList(rec_id, f"sim-user-{n}", "", [], items, [0.0] * 5, version, False,
                                when))  # fmt: skip
        for pos, item in enumerate(items):
            if rng.random() < rate / (1 + pos):
                events.append(
                    FeedbackEvent(
                        f"sim-user-{n}",
                        item,
                        "click",
                        when + timedelta(minutes=5),
                        recommendation_id=rec_id,
                    )
                )
    with FeedbackStore(url) as store:
        store.log_served(lists)
        store.add_feedback_many(events)


@pytest.fixture(scope="module")
def browser():
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"],
        )  # fmt: skip
        yield launched
        launched.close()


def test_recommendations_appear_and_a_like_lands_in_the_feedback_store(server, browser):
    url, model_dir = server
    page = browser.new_page()
    page.goto(url + "/")
    page.fill("#user", "u1")
    page.fill("#request", "Show me beta movies")
    page.fill("#k", "4")
    page.fill("#key", KEY)
    page.click("#go")
    page.wait_for_selector("[data-testid=results] li")
    rows = page.locator("[data-testid=results] li")
    assert rows.count() == 4
    sentence = page.locator("[data-testid=sentence]").inner_text()
    first_title = rows.nth(0).locator(".title").inner_text()
    assert sentence.startswith("You may like") and first_title in sentence
    item_id = rows.nth(0).get_attribute("data-item-id")
    rows.nth(0).locator("button[data-event=like]").click()
    page.wait_for_selector("li.liked")
    assert "feedback saved" in page.locator("#status").inner_text()
    store = FeedbackStore(default_sqlite_url(model_dir))
    try:
        frame = store.feedback_frame()
    finally:
        store.close()
    liked = frame[(frame["event"] == "like") & (frame["user_id"] == "u1")]
    assert list(liked["item_id"]) == [item_id]
    assert liked["recommendation_id"].iloc[0]


def test_a_chinese_request_shows_a_chinese_sentence_and_errors_are_shown(server, browser):
    url, _ = server
    page = browser.new_page()
    page.goto(url + "/")
    page.fill("#request", "我想看一部Alpha电影")
    page.click("#go")
    page.wait_for_selector("[data-testid=results] li")
    assert page.locator("[data-testid=sentence]").inner_text().startswith("您可能会喜欢")
    page.fill("#key", "")
    page.locator("[data-testid=results] li button[data-event=dislike]").first.click()
    page.wait_for_function("document.getElementById('status').className === 'error'")
    assert "API key" in page.locator("#status").inner_text()


def test_the_dashboard_charts_the_online_metrics_of_each_version(server, browser, tmp_path):
    url, _ = server
    page = browser.new_page(viewport={"width": 900, "height": 1400})
    page.goto(url + "/")
    page.fill("#key", KEY)
    page.click("#dash-load")
    page.wait_for_function("document.querySelectorAll('#dashboard .uplot').length === 3")
    rows = page.locator("[data-testid=versions] tr")
    table = {rows.nth(i).locator("td").nth(0).inner_text(): rows.nth(i).locator("td").nth(2)
             .inner_text() for i in range(1, rows.count())}  # fmt: skip
    assert {"v-old", "v-new"} <= set(table)
    accept = {v: float(table[v].split("%")[0]) for v in ("v-old", "v-new")}
    assert accept["v-new"] > accept["v-old"] > 0
    titles = page.locator("#dashboard .u-title").all_inner_texts()
    assert titles[1:] == ["hits per list", "CTR by position"] and titles[0].startswith("acceptance")
    legend = page.locator("#chart-acceptance .u-legend").inner_text()
    assert "v-old" in legend and "v-new" in legend
    assert "events" in page.locator("#dash-status").inner_text()
    shot = Path(os.environ.get("GENREC_DASHBOARD_PNG") or tmp_path / "dashboard.png")
    page.locator("#dashboard").screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000


def test_the_dashboard_says_when_the_key_is_missing(server, browser):
    url, _ = server
    page = browser.new_page()
    page.goto(url + "/")
    page.fill("#key", "")
    page.click("#dash-load")
    page.wait_for_function("document.getElementById('dash-status').className === 'error'")
    assert "API key" in page.locator("#dash-status").inner_text()
    assert page.locator("#dashboard .uplot").count() == 0
