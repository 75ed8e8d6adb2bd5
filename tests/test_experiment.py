"""A/B serving end to end: a candidate version beside the one in use, users split by a stable
hash, every list recording its arm, and the candidate promoted when simulated users of known
preference (they take beta items) accept it more."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

import genrec
from genrec.abtest import CANDIDATE, CONTROL, TrafficSplit
from genrec.learning import FinetuneConfig
from genrec.lifecycle import finetune_version, resolve_model_dir
from genrec.serving.app import create_app
from genrec.serving.experiment import offline_guard_refused
from genrec.serving.settings import ServeSettings
from genrec.store.database import FeedbackStore

from synthetic import beta_share, versions_with_feedback

KEY = "k" * 32
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def built(tiny_model_dir, tmp_path_factory):
    """v0001 in use and v0002, fine-tuned towards beta items, written as a candidate."""
    tmp = tmp_path_factory.mktemp("ab")
    root, url = versions_with_feedback(tiny_model_dir, tmp, recorded=False)
    config = FinetuneConfig(objective="sft", epochs=20, lr=3e-3, batch_size=8, kl_weight=0.1)
    outcome = finetune_version(root, url, config=config, guard=False, candidate=True)
    assert outcome.path.name == "v0002" and resolve_model_dir(root).name == "v0001"
    return root


@pytest.fixture
def versions(built, tmp_path):
    """A copy of the two versions (tests move CURRENT)."""
    return Path(shutil.copytree(built, tmp_path / "models"))


def client_for(root, tmp_path, **overrides):
    values = {"model_dir": root, "api_keys": [KEY], "db": f"sqlite:///{tmp_path / 'ab.db'}",
              "batch_wait_ms": 1.0, **overrides}  # fmt: skip
    return TestClient(create_app(ServeSettings(**values), load_in_background=False))


def test_the_candidate_likes_beta_more_than_the_version_in_use(versions):
    users = [f"u{i}" for i in range(40)]
    old, new = genrec.load(versions / "v0001"), genrec.load(versions / "v0002")
    assert beta_share(new, users) > beta_share(old, users) + 0.2


def test_users_keep_their_arm_and_every_list_records_it(versions, tmp_path):
    split = TrafficSplit("v0002", 0.5)
    with client_for(versions, tmp_path, ab="v0002=50%") as client:
        seen: dict[str, set[str]] = {}
        for _ in range(2):
            for i in range(40):
                body = client.post("/v1/recommendations", json={"user_id": f"u{i}", "k": 3}).json()
                seen.setdefault(f"u{i}", set()).add(body["arm"])
                version = body["model_version"]
                assert (version.startswith("v0002") if body["arm"] == CANDIDATE
                        else version.startswith("v0001"))  # fmt: skip
        anonymous = client.post("/v1/recommendations", json={"history": ["a1"], "k": 3}).json()
    assert all(len(arms) == 1 for arms in seen.values())
    assert {u: arms.pop() for u, arms in seen.items()} == {u: split.arm_of(u) for u in seen}
    assert anonymous["arm"] is None and anonymous["model_version"].startswith("v0001")
    with FeedbackStore(f"sqlite:///{tmp_path / 'ab.db'}") as store:
        served = store.served_frame()
    assert sorted(served["arm"].dropna().unique()) == [CANDIDATE, CONTROL]
    assert served["arm"].isna().sum() == 1


def test_the_better_version_is_found_and_promoted(versions, tmp_path):
    rng = np.random.default_rng(0)
    settings = {"ab": "v0002=50%", "promote_on_win": "win", "ab_min_lists": 60,
                "online_refresh_seconds": 0.1}  # fmt: skip
    with client_for(versions, tmp_path, **settings) as client:
        for _ in range(12):  # rounds: every user asks for 3 items and reacts
            for i in range(40):
                body = client.post("/v1/recommendations", json={"user_id": f"u{i}", "k": 3}).json()
                for item in body["items"]:
                    # Known preference: beta items are taken half the time, alpha ones rarely.
                    if rng.random() < (0.5 if item["item_id"].startswith("b") else 0.03):
                        event = {"user_id": f"u{i}", "item_id": item["item_id"], "event": "like",
                                 "recommendation_id": body["recommendation_id"]}  # fmt: skip
                        res = client.post("/v1/feedback", json=event, headers=AUTH)
                        assert res.status_code == 201
            online = client.get("/v1/admin/online", headers=AUTH).json()
            if not online["ab"]["running"]:
                break
            time.sleep(0.3)  # the watcher compares the arms every 0.1 s
        ab = client.get("/v1/admin/online", headers=AUTH).json()["ab"]
        after = client.post("/v1/recommendations", json={"user_id": "u0", "k": 3}).json()
    assert ab["outcome"].startswith("promoted"), ab
    comparison = ab["comparison"]
    assert comparison["candidate_acceptance"] > comparison["control_acceptance"]
    assert comparison["significant"] and comparison["control_lists"] >= 60
    assert resolve_model_dir(versions).name == "v0002"
    assert after["model_version"].startswith("v0002") and after["arm"] is None


def test_a_candidate_the_offline_guard_refused_is_not_promoted(versions, tmp_path):
    meta = versions / "v0002" / "genrec.json"
    data = json.loads(meta.read_text())
    assert offline_guard_refused(versions / "v0002") is False
    data["fit_info"]["lineage"]["promoted"] = False
    meta.write_text(json.dumps(data))
    assert offline_guard_refused(versions / "v0002") is True


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"ab": "v0009=20%"}, "neither a version"), ({"ab": "v0001=20%"}, "already in use")],
)
def test_a_candidate_that_cannot_be_served_is_reported_by_readyz(versions, tmp_path, settings,
                                                                 message):  # fmt: skip
    with client_for(versions, tmp_path, **settings) as client:
        res = client.get("/readyz")
    assert res.status_code == 503 and message in res.text


def test_promote_on_win_without_a_test_and_a_bad_split_are_refused(versions):
    from genrec.config import ConfigError

    with pytest.raises(ConfigError, match="needs an A/B test"):
        create_app(ServeSettings(model_dir=versions, api_keys=[KEY], promote_on_win="win"))
    with pytest.raises(ValueError, match="CANDIDATE=SHARE"):
        ServeSettings(model_dir=versions, api_keys=[KEY], ab="v0002")
