"""Model folders and versions: which version is in use, numbering, the promotion guard, training
into a folder and fine-tuning into a new version through the library (the CLI's own tests are in
test_cli.py and test_learning.py)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import genrec
from genrec import lifecycle
from genrec.data.spec import DataSpec
from genrec.data.split import leave_one_out
from genrec.learning import FinetuneConfig, build_examples, finetune, read_feedback
from genrec.lifecycle import (
    model_version,
    next_version_dir,
    promotion_check,
    resolve_model_dir,
    save_version,
)
from genrec.recommender import ModelDirError

from synthetic import (
    USERS,
    mixed_dataset,
    versions_with_feedback,
)


def test_a_folder_of_versions_serves_the_last_one_or_the_one_named_current(
    tmp_path, tiny_model_dir
):
    import shutil

    for name in ("v0001", "v0002"):
        shutil.copytree(tiny_model_dir, tmp_path / name)
    assert resolve_model_dir(tmp_path) == tmp_path / "v0002"
    (tmp_path / "CURRENT").write_text("v0001\n")
    assert resolve_model_dir(tmp_path) == tmp_path / "v0001"
    (tmp_path / "CURRENT").write_text("v0009\n")
    with pytest.raises(ModelDirError, match="v0009"):
        resolve_model_dir(tmp_path)


def test_a_folder_without_a_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelDirError, match="no saved model"):
        resolve_model_dir(tmp_path)
    with pytest.raises(ModelDirError, match="does not exist"):
        resolve_model_dir(tmp_path / "missing")


def test_the_version_comes_from_genrec_json_or_changes_with_the_files(tmp_path, tiny_model_dir):
    import shutil

    copy = shutil.copytree(tiny_model_dir, tmp_path / "m")
    first = model_version(copy)
    assert first == model_version(copy)
    (copy / "item_vectors.npy").write_bytes((copy / "item_vectors.npy").read_bytes() + b"\0")
    assert model_version(copy) != first
    meta = json.loads((copy / "genrec.json").read_text())
    meta["version"] = "2026-12-01.1"
    (copy / "genrec.json").write_text(json.dumps(meta))
    assert model_version(copy) == "2026-12-01.1"


def test_versions_are_numbered_recorded_and_never_overwritten(
    model, store_url, tmp_path, tiny_model_dir
):
    root = tmp_path / "models"
    shutil.copytree(tiny_model_dir, root / "v0001")
    examples = build_examples(model, *read_feedback(store_url))
    tuned, report = finetune(model, examples, FinetuneConfig(epochs=1))
    out = next_version_dir(root)
    assert out == root / "v0002"
    save_version(tuned, out, parent=root / "v0001", parent_version="v0001-x", report=report,
                 promoted=True)  # fmt: skip
    meta = json.loads((out / "genrec.json").read_text())
    assert meta["version"] == "v0002" and model_version(out) == "v0002"
    assert meta["fit_info"]["lineage"]["parent_version"] == "v0001-x"
    assert meta["fit_info"]["lineage"]["examples"]["contexts"] == len(USERS)
    assert genrec.load(out).recommend(user="u1", k=3)
    with pytest.raises(ModelDirError, match="never overwritten"):
        save_version(tuned, out, parent=root / "v0001", parent_version="v0001", report=report,
                     promoted=True)  # fmt: skip


def test_the_guard_refuses_a_model_that_got_worse(model):
    split = leave_one_out(mixed_dataset())
    same = promotion_check(model, model, split, 0.02)
    assert same.promoted and same.before == same.after
    assert not promotion_check(model, BrokenModel(model), split, 0.02).promoted
    assert promotion_check(model, model, None, 0.02).promoted


@pytest.mark.parametrize(
    ("recent", "valid", "promoted", "checks"),
    [
        ((0.60, 0.66), (0.20, 0.19), True, ("passed", "passed")),  # +10% new taste, -5% old
        ((0.60, 0.66), (0.20, 0.17), False, ("passed", "failed")),  # -15% old: too much
        ((0.60, 0.60), (0.20, 0.19), False, ("passed", "failed")),  # forgets, gains nothing
        ((0.60, 0.50), (0.20, 0.22), False, ("failed", "passed")),  # ranks new taste worse
        ((0.60, 0.90), (0.20, 0.17), False, ("passed", "failed")),  # gain capped at 10%
    ],
)
def test_the_guard_trades_old_validation_only_for_newer_taste(
    monkeypatch, recent, valid, promoted, checks
):
    before, after = object(), object()
    monkeypatch.setattr(lifecycle, "in_list_auc", lambda m, _: recent[m is after])
    monkeypatch.setattr(lifecycle, "_valid_ndcg", lambda m, _: valid[m is after])
    split, holdout = object(), object()
    found = promotion_check(before, after, split, 0.02, recent=holdout, max_forgetting=0.1)
    assert found.promoted is promoted, found
    assert (
        found.checks["recent"].split(":")[0],
        found.checks["validation"].split(":")[0],
    ) == checks
    assert found.recent_before == recent[0] and found.recent_after == recent[1]


def test_the_recent_holdout_is_the_newest_lists_and_stays_out_of_the_finetune(model, store_url):
    from genrec.learning.holdout import holdout_examples, in_list_auc, split_recent

    events, lists = read_feedback(store_url)
    older, newest = split_recent(events, lists, 0.25)
    newest_lists = set(newest["recommendation_id"])
    assert len(newest_lists) == 5 and not newest_lists & set(older["recommendation_id"])
    served_at = lists.set_index("recommendation_id")["created_at"]
    assert (
        served_at[list(newest_lists)].min()
        >= served_at[list(set(older["recommendation_id"]))].max()
    )
    assert holdout_examples(model, newest, lists, FinetuneConfig()) is None  # 5 < 20 lists
    every = holdout_examples(model, events, lists, FinetuneConfig())
    assert every is not None and len(every) == len(USERS)
    # A fine-tune towards what these users took ranks it higher within their lists.
    config = FinetuneConfig(objective="sft", epochs=20, lr=3e-3, batch_size=8, kl_weight=0.1)
    tuned, _ = finetune(model, build_examples(model, events, lists), config)
    assert in_list_auc(tuned, every) > in_list_auc(model, every) + 0.1


class BrokenModel:
    """Recommends the same items to everyone: validation NDCG collapses."""

    def __init__(self, model):
        self.model = model
        self.catalog = model.catalog
        self.histories = model.histories

    def recommend_indices(self, histories, k, **kwargs):
        rows = len(histories)
        return np.tile(np.arange(k), (rows, 1)), np.zeros((rows, k))


def test_set_current_moves_the_pointer_and_refuses_what_is_not_a_model(tmp_path, tiny_model_dir):
    for name in ("v0001", "v0002"):
        shutil.copytree(tiny_model_dir, tmp_path / name)
    lifecycle.set_current(tmp_path, "v0001")
    assert resolve_model_dir(tmp_path) == tmp_path / "v0001"
    with pytest.raises(ModelDirError, match="CURRENT left as it was"):
        lifecycle.set_current(tmp_path, "v0003")
    assert resolve_model_dir(tmp_path) == tmp_path / "v0001"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CURRENT", "v0001", "v0002"]


def test_train_saves_a_model_that_records_its_data(tmp_path):
    data = mixed_dataset()
    spec = DataSpec("log.csv", catalog="items.csv")
    model = lifecycle.train("itemknn", data, tmp_path / "knn", data_spec=spec, progress=False)
    loaded = genrec.load(tmp_path / "knn")
    assert loaded.kind == "itemknn" and lifecycle.recorded_data(loaded) == spec
    assert loaded.recommend(user="u1", k=4) == model.recommend(user="u1", k=4)
    with pytest.raises(ValueError, match="--base does not apply to --model itemknn"):
        lifecycle.train("itemknn", data, tmp_path / "x", overrides={"base": "smollm2"})


def test_finetune_version_writes_the_next_version_behind_the_guard(tiny_model_dir, tmp_path):
    root, url = versions_with_feedback(tiny_model_dir, tmp_path)
    config = FinetuneConfig(epochs=2, tolerance=0.99)
    outcome = lifecycle.finetune_version(root, url, config=config)
    assert outcome.path == root / "v0002" and outcome.promoted
    assert outcome.promotion.before is not None and outcome.promotion.after is not None
    assert outcome.report["examples"]["contexts"] == len(USERS)
    assert resolve_model_dir(root) == root / "v0002"
    unchecked = lifecycle.finetune_version(root, url, config=config, guard=False)
    assert unchecked.path == root / "v0003" and "guard off" in unchecked.promotion.reason


def test_finetune_version_keeps_the_old_version_when_the_guard_refuses(
    tiny_model_dir, tmp_path, monkeypatch
):
    root, url = versions_with_feedback(tiny_model_dir, tmp_path)
    refused = lifecycle.Promotion(False, 0.2, 0.1, 0.02, "validation NDCG@10 fell 50.0% (> 2.0%)")
    # The guard's own verdicts are tested above; here, what a refusal does to the folder.
    monkeypatch.setattr(lifecycle, "promotion_check", lambda *a, **k: refused)
    outcome = lifecycle.finetune_version(root, url, config=FinetuneConfig(epochs=1))
    assert not outcome.promoted and outcome.path == root / "v0002"
    lineage = json.loads((root / "v0002" / "genrec.json").read_text())["fit_info"]["lineage"]
    assert lineage["promoted"] is False and lineage["promotion"]["reason"] == refused.reason
    assert resolve_model_dir(root) == root / "v0001"


def test_finetune_version_refuses_a_model_that_cannot_learn_from_feedback(tmp_path):
    lifecycle.train("popular", mixed_dataset(), tmp_path / "pop" / "v0001", progress=False)
    with pytest.raises(ValueError, match="finetune needs a generative or llm one"):
        lifecycle.finetune_version(tmp_path / "pop", f"sqlite:///{tmp_path / 'f.sqlite3'}")
