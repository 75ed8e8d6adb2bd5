"""The HTTP service end to end through FastAPI's TestClient (real model, SQLite store)."""

from __future__ import annotations

import shutil
import threading
import time

import pytest
from fastapi.testclient import TestClient

from genrec.config import ConfigError
from genrec.serving.app import create_app
from genrec.serving.settings import ServeSettings
from genrec.store import default_sqlite_url
from genrec.store.database import FeedbackStore

KEY = "test-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def trained_dir(tiny_model_dir):
    return tiny_model_dir


@pytest.fixture
def model_root(tmp_path, trained_dir):
    """A folder of versions holding one version, v0001."""
    shutil.copytree(trained_dir, tmp_path / "models" / "v0001")
    return tmp_path / "models"


def make_client(model_root, **overrides):
    values = {"model_dir": model_root, "api_keys": [KEY], "batch_wait_ms": 5.0, **overrides}
    app = create_app(ServeSettings(**values), load_in_background=False)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def client(model_root):
    with make_client(model_root) as c:
        yield c


def test_recommendations_for_a_known_user_are_unseen_catalog_items(client):
    res = client.post("/v1/recommendations", json={"user_id": "u1", "k": 5})
    assert res.status_code == 200, res.text
    body = res.json()
    assert len(body["items"]) == 5
    assert body["recommendation_id"] and body["model_version"].startswith("v0001")
    assert not body["fallback"] and body["warnings"] == []
    assert body["text"].startswith("You may like: ")
    assert all(item["title"] in body["text"] for item in body["items"])
    assert body["latency_ms"] > 0
    ids = [item["item_id"] for item in body["items"]]
    assert len(set(ids)) == 5


def test_a_chinese_request_gets_a_chinese_sentence_and_follows_the_request(client):
    res = client.post("/v1/recommendations", json={"request": "我想看一部Beta电影", "k": 4})
    body = res.json()
    assert body["text"].startswith("您可能会喜欢")
    assert sum(i["item_id"].startswith("b") for i in body["items"]) >= 3


def test_unknown_history_items_are_ignored_and_listed_in_warnings(client):
    res = client.post("/v1/recommendations", json={"history": ["a1", 404, "zzz"], "k": 3})
    assert res.status_code == 200
    assert "'404'" in res.json()["warnings"][0] and "'zzz'" in res.json()["warnings"][0]


def test_an_unknown_user_with_nothing_else_gets_popular_items_as_a_fallback(client):
    body = client.post("/v1/recommendations", json={"user_id": "new-user", "k": 3}).json()
    assert body["fallback"] is True and len(body["items"]) == 3


def test_category_filter_and_exclude_apply(client):
    body = client.post(
        "/v1/recommendations",
        json={"user_id": "u2", "k": 5, "categories": ["Beta"], "exclude": ["b0", "b1"]},
    ).json()
    ids = [i["item_id"] for i in body["items"]]
    assert ids and all(i.startswith("b") for i in ids)
    assert not {"b0", "b1"} & set(ids)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"k": 0}, "k"),
        ({"k": 101}, "k"),
        ({"k": "5"}, "k"),
        ({"hitsory": ["a1"]}, "hitsory"),
        ({"history": "a1"}, "history"),
        ({"request": 7}, "request"),
        ({"user_id": ""}, "user_id"),
    ],
)
def test_bad_recommendation_requests_are_422_naming_the_field(client, body, field):
    res = client.post("/v1/recommendations", json=body)
    assert res.status_code == 422
    assert field in res.json()["error"]
    assert "Traceback" not in res.text


def test_limits_on_history_request_and_body_size(model_root):
    with make_client(model_root, max_history=5, max_request_chars=20, max_body_bytes=2048) as c:
        res = c.post("/v1/recommendations", json={"history": ["a1"] * 6})
        assert res.status_code == 422 and "at most 5" in res.json()["error"]
        res = c.post("/v1/recommendations", json={"request": "x" * 21})
        assert res.status_code == 422 and "at most 20" in res.json()["error"]
        res = c.post("/v1/recommendations", content=b"{" + b" " * 4000 + b"}",
                     headers={"content-type": "application/json"})  # fmt: skip
        assert res.status_code == 413
        res = c.post("/v1/recommendations", content=b"{not json",
                     headers={"content-type": "application/json"})  # fmt: skip
        assert res.status_code == 422


def test_feedback_needs_the_api_key(client):
    event = {"user_id": "u1", "item_id": "a1", "event": "click"}
    assert client.post("/v1/feedback", json=event).status_code == 401
    wrong = {"Authorization": "Bearer not-the-key-at-all-000"}
    res = client.post("/v1/feedback", json=event, headers=wrong)
    assert res.status_code == 401 and res.headers["www-authenticate"] == "Bearer"
    assert client.post("/v1/feedback", json=event, headers=AUTH).status_code == 201


def test_feedback_is_stored_once_per_idempotency_key(model_root):
    with make_client(model_root) as c:
        served = c.post("/v1/recommendations", json={"user_id": "u3", "k": 3}).json()
        item = served["items"][0]["item_id"]
        event = {
            "user_id": "u3",
            "item_id": item,
            "event": "like",
            "recommendation_id": served["recommendation_id"],
            "idempotency_key": "u3-like-1",
        }
        first = c.post("/v1/feedback", json=event, headers=AUTH)
        again = c.post("/v1/feedback", json=event, headers=AUTH)
        header = c.post(
            "/v1/feedback",
            json={"user_id": "u3", "item_id": item, "event": "rating", "value": 4},
            headers={**AUTH, "Idempotency-Key": "u3-rating-1"},
        )
        header_again = c.post(
            "/v1/feedback",
            json={"user_id": "u3", "item_id": item, "event": "rating", "value": 4},
            headers={**AUTH, "Idempotency-Key": "u3-rating-1"},
        )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == {**first.json(), "stored": False}
    assert (header.status_code, header_again.status_code) == (201, 200)
    store = FeedbackStore(default_sqlite_url(model_root))
    try:
        frame = store.feedback_frame()
        assert list(frame["event"]) == ["like", "rating"]
        assert frame["recommendation_id"].iloc[0] == served["recommendation_id"]
        logged = store.served(served["recommendation_id"])
        assert logged is not None and logged.user_id == "u3"
        assert logged.items == [i["item_id"] for i in served["items"]]
    finally:
        store.close()


@pytest.mark.parametrize(
    "event",
    [
        {"user_id": "u1", "item_id": "a1", "event": "rating"},
        {"user_id": "u1", "item_id": "a1", "event": "click", "value": 3},
        {"user_id": "u1", "item_id": "a1", "event": "purchased"},
        {"user_id": "u1", "event": "click"},
        {"user_id": "u1", "item_id": "a1", "event": "click", "timestamp": "yesterday"},
        {"user_id": "u1", "item_id": "a1", "event": "click", "timestamp": "2999-01-01T00:00:00Z"},
    ],
)
def test_bad_feedback_is_refused_with_a_clear_422(client, event):
    res = client.post("/v1/feedback", json=event, headers=AUTH)
    assert res.status_code == 422, res.text
    assert res.json()["error"]


def test_integral_numbers_are_integers_as_the_schema_says(client):
    res = client.post("/v1/recommendations", json={"user_id": "u1", "k": 3.0})
    assert res.status_code == 200 and len(res.json()["items"]) == 3
    for k in (True, 3.5, "3"):
        res = client.post("/v1/recommendations", json={"user_id": "u1", "k": k})
        assert res.status_code == 422 and res.json()["details"][0]["field"] == "k"
    event = {"user_id": 7.0, "item_id": "a1", "event": "click"}
    assert client.post("/v1/feedback", json=event, headers=AUTH).status_code == 201


@pytest.mark.parametrize(
    ("event", "headers", "field"),
    [
        ({"event": "rating"}, {}, "rating.value"),
        ({"event": "rating", "value": "4"}, {}, "rating.value"),
        ({"event": "click", "value": 3}, {}, "click.value"),
        ({"event": "clicked"}, {}, "event"),
        ({"event": "click", "recommendation_id": ""}, {}, "click.recommendation_id"),
        ({"event": "click", "timestamp": 0}, {}, "click.timestamp"),
        ({"event": "click"}, {"Idempotency-Key": ""}, "Idempotency-Key"),
        ({"event": "click"}, {"Idempotency-Key": "k" * 129}, "Idempotency-Key"),
    ],
)
def test_feedback_422s_name_the_field_of_the_events_variant(client, event, headers, field):
    body = {"user_id": "u1", "item_id": "a1", **event}
    res = client.post("/v1/feedback", json=body, headers={**AUTH, **headers})
    assert res.status_code == 422, res.text
    assert res.json()["error"].startswith(f"invalid request: {field}: ")


@pytest.mark.parametrize(
    ("overrides", "secured"),
    [
        ({}, {"/v1/feedback", "/v1/admin/reload", "/v1/admin/online"}),
        ({"require_key_for_reads": True},
         {"/v1/feedback", "/v1/admin/reload", "/v1/admin/online", "/v1/recommendations",
          "/v1/items",
          "/v1/items/{item_id}", "/metrics"}),
        ({"api_keys": [], "insecure_dev": True}, set()),
    ],
)  # fmt: skip
def test_the_openapi_document_declares_the_key_exactly_where_it_is_checked(
    model_root, overrides, secured
):
    settings = ServeSettings(**{"model_dir": model_root, "api_keys": [KEY], **overrides})
    paths = create_app(settings).openapi()["paths"]
    declared = {path for path, ops in paths.items() for op in ops.values() if op.get("security")}
    assert declared == secured
    metrics = paths["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]


def test_feedback_about_an_unknown_item_is_kept_with_a_warning(client):
    res = client.post(
        "/v1/feedback", json={"user_id": "u1", "item_id": "new-item", "event": "click"},
        headers=AUTH,
    )  # fmt: skip
    assert res.status_code == 201
    assert "new-item" in res.json()["warnings"][0]


def test_item_search_and_lookup(client):
    found = client.get("/v1/items", params={"q": "beta", "limit": 3}).json()["items"]
    assert len(found) == 3 and all(i["title"].startswith("Beta") for i in found)
    item = client.get("/v1/items/a3").json()
    assert item["title"] == "Alpha saga part 3" and item["categories"] == ["Alpha"]
    assert item["interactions"] > 0
    missing = client.get("/v1/items/zzz")
    assert missing.status_code == 404 and "zzz" in missing.json()["error"]
    assert client.get("/v1/items", params={"limit": 1000}).status_code == 422


def test_health_readiness_and_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["ready"] and ready["model_version"].startswith("v0001")
    client.post("/v1/recommendations", json={"user_id": "u1"})
    client.post("/v1/feedback", json={"user_id": "u1", "item_id": "a1", "event": "skip"},
                headers=AUTH)  # fmt: skip
    text = client.get("/metrics").text
    assert 'genrec_http_requests_total{method="POST",route="/v1/recommendations",status="200"}' in (
        text
    )
    assert 'genrec_feedback_events_total{event="skip",stored="true"} 1.0' in text
    assert "genrec_decode_batch_size_bucket" in text
    assert 'genrec_model_info{version="v0001' in text


def test_online_metrics_per_version_on_metrics_and_the_admin_endpoint(model_root):
    with make_client(model_root, online_refresh_seconds=0.0) as c:
        lists = [c.post("/v1/recommendations", json={"user_id": u, "k": 3}).json()
                 for u in ("u1", "u2", "u3", "u4")]  # fmt: skip
        for body, user in zip(lists[:2], ("u1", "u2"), strict=True):  # 2 of 4 lists answered
            event = {"user_id": user, "item_id": body["items"][1]["item_id"], "event": "click",
                     "recommendation_id": body["recommendation_id"]}  # fmt: skip
            assert c.post("/v1/feedback", json=event, headers=AUTH).status_code == 201
        assert c.get("/v1/admin/online").status_code == 401
        for _ in range(100):  # served lists are stored by a background thread
            report = c.get("/v1/admin/online", headers=AUTH).json()
            if report["versions"] and report["versions"][0]["lists"] == 4:
                break
            time.sleep(0.05)
        (row,) = report["versions"]
        assert row["version"] == lists[0]["model_version"]
        assert (row["lists"], row["accepted"], row["ctr_2"]) == (4, 2, 0.5)
        assert row["acceptance_low"] < 0.5 < row["acceptance_high"]
        assert report["events"] == {"click": 2}
        text = c.get("/metrics").text
        version = lists[0]["model_version"]
        assert f'genrec_online_acceptance{{version="{version}"}} 0.5' in text
        assert f'genrec_online_ctr{{position="2",version="{version}"}} 0.5' in text
        assert 'genrec_online_feedback_events{event="click"} 2.0' in text


def test_reload_swaps_in_a_new_version_without_failing_requests_in_flight(client, model_root):
    shutil.copytree(model_root / "v0001", model_root / "v0002")
    failures: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            res = client.post("/v1/recommendations", json={"user_id": "u4", "k": 3})
            if res.status_code != 200:
                failures.append(res.status_code)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        assert client.post("/v1/admin/reload").status_code == 401
        res = client.post("/v1/admin/reload", headers=AUTH)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["reloaded"] and body["model_version"].startswith("v0002")
    assert body["previous_version"].startswith("v0001")
    assert failures == []
    served = client.post("/v1/recommendations", json={"user_id": "u4"}).json()
    assert served["model_version"].startswith("v0002")
    again = client.post("/v1/admin/reload", headers=AUTH).json()
    assert again["reloaded"] is False


def test_a_broken_new_version_is_refused_and_the_old_one_keeps_serving(client, model_root):
    (model_root / "v0002").mkdir()
    (model_root / "v0002" / "genrec.json").write_text("{}")
    res = client.post("/v1/admin/reload", headers=AUTH)
    assert res.status_code == 409 and "still serving" in res.json()["error"]
    ok = client.post("/v1/recommendations", json={"user_id": "u1"})
    assert ok.status_code == 200 and ok.json()["model_version"].startswith("v0001")


def test_the_server_refuses_to_start_without_keys_unless_insecure_dev(model_root):
    with pytest.raises(ConfigError, match="--insecure-dev"):
        create_app(ServeSettings(model_dir=model_root))
    with make_client(model_root, api_keys=[], insecure_dev=True) as c:
        res = c.post("/v1/feedback", json={"user_id": "u1", "item_id": "a1", "event": "click"})
        assert res.status_code == 201


def test_reads_can_require_a_key_too(model_root):
    with make_client(model_root, require_key_for_reads=True) as c:
        assert c.post("/v1/recommendations", json={"user_id": "u1"}).status_code == 401
        res = c.post("/v1/recommendations", json={"user_id": "u1"}, headers=AUTH)
        assert res.status_code == 200


def test_cors_is_off_by_default_and_on_for_listed_origins(client, model_root):
    origin = {"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}
    res = client.options("/v1/recommendations", headers=origin)
    assert "access-control-allow-origin" not in res.headers
    with make_client(model_root, cors_origins=["https://shop.example"]) as c:
        res = c.options("/v1/recommendations", headers=origin)
        assert res.headers["access-control-allow-origin"] == "https://shop.example"


def test_concurrent_requests_are_decoded_in_shared_batches(client):
    results: list[int] = []

    def one(i: int) -> None:
        res = client.post("/v1/recommendations", json={"user_id": f"u{i % 40}", "k": 3})
        results.append(res.status_code)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 24
    text = client.get("/metrics").text
    count = float(text.split("genrec_decode_batch_size_count ")[1].split()[0])
    assert count < 24  # some requests shared a batch


def test_the_openapi_page_lists_every_endpoint(client):
    paths = set(client.get("/openapi.json").json()["paths"])
    assert {"/v1/recommendations", "/v1/feedback", "/v1/items", "/v1/items/{item_id}",
            "/healthz", "/readyz", "/metrics", "/v1/admin/reload",
            "/v1/admin/online"} <= paths  # fmt: skip


def test_the_web_page_offers_users_and_shows_the_version(client):
    page = client.get("/").text
    assert '<option value="u1">' in page
    assert "v0001" in page and "const keyRequired = true" in page


def test_internal_errors_are_a_bare_500_without_internals(client, monkeypatch):
    state = client.app.state.genrec

    def explode(queries):
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(state.holder.current, "answer", explode)
    res = client.post("/v1/recommendations", json={"user_id": "u1"})
    assert res.status_code == 500
    assert res.json() == {"error": "internal server error"}


def test_any_saved_model_can_be_served_a_baseline_ignores_the_request(tmp_path):
    from genrec.baselines.popular import PopularRecommender

    from synthetic import mixed_dataset

    PopularRecommender().fit(mixed_dataset()).save(tmp_path / "popular")
    with make_client(tmp_path / "popular") as c:
        body = c.post("/v1/recommendations", json={"user_id": "u1", "k": 3}).json()
        assert len(body["items"]) == 3 and not body["fallback"]


def test_an_llm_model_is_served_the_same_way(tmp_path, tiny_lm_dir):
    from genrec.llm.recommender import LLMConfig, LLMRecommender

    from synthetic import mixed_dataset

    config = LLMConfig(base=str(tiny_lm_dir), lora=False, epochs=1, max_examples=64)
    LLMRecommender(config).fit(mixed_dataset(), seed=0).save(tmp_path / "llm")
    with make_client(tmp_path / "llm") as c:
        request = {"user_id": "u1", "k": 3, "request": "我想看一部电影"}
        body = c.post("/v1/recommendations", json=request).json()
        assert len({i["item_id"] for i in body["items"]}) == 3 and not body["fallback"]
        assert all(i["title"] in body["text"] for i in body["items"])
        event = {"user_id": "u1", "item_id": body["items"][0]["item_id"], "event": "like",
                 "recommendation_id": body["recommendation_id"]}  # fmt: skip
        assert c.post("/v1/feedback", json=event, headers=AUTH).status_code == 201


@pytest.mark.parametrize("every", [{"learn_every": 6}, {"learn_every_minutes": 0.05}])
def test_online_learning_fine_tunes_after_n_events_or_minutes_and_serves_the_new_version(
    model_root, every
):
    import time

    with make_client(model_root, learn_check_seconds=0.2, **every) as c:
        for user in ("u1", "u2", "u3"):
            served = c.post("/v1/recommendations", json={"user_id": user, "k": 4}).json()
            for item in served["items"][:2]:
                event = {"user_id": user, "item_id": item["item_id"], "event": "like",
                         "recommendation_id": served["recommendation_id"]}  # fmt: skip
                assert c.post("/v1/feedback", json=event, headers=AUTH).status_code == 201
        deadline = time.monotonic() + 180
        version = ""
        while time.monotonic() < deadline:
            version = c.get("/readyz").json()["model_version"]
            if version == "v0002":
                break
            time.sleep(0.5)
        assert version == "v0002"
        assert (model_root / "CURRENT").read_text().strip() == "v0002"
        assert c.post("/v1/recommendations", json={"user_id": "u1"}).json()["model_version"] == (
            "v0002"
        )
        assert 'genrec_online_finetunes_total{result="ok"} 1.0' in c.get("/metrics").text


def test_online_learning_needs_a_folder_of_versions(model_root):
    with pytest.raises(ConfigError, match="folder of versions"):
        create_app(ServeSettings(model_dir=model_root / "v0001", api_keys=[KEY], learn_every=5))
