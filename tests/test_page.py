"""The web page at / driven in headless Chromium against a real `genrec serve` process."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from genrec.store import default_sqlite_url
from genrec.store.database import FeedbackStore

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
KEY = "browser-test-key-0123456789"


def _require_chromium() -> None:
    if Path(CHROMIUM).is_file():
        return
    reason = "Chromium is not installed (scripts/ci-services.sh installs it)"
    if os.environ.get("GENREC_REQUIRE_SERVICES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model_dir):
    _require_chromium()
    model_dir = tmp_path_factory.mktemp("model") / "m"
    shutil.copytree(tiny_model_dir, model_dir)  # the server writes its store beside the model
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
