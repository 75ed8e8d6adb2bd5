"""SASRec baseline: learns a deterministic pattern, is seedable, saves and loads exactly."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import genrec
from genrec.baselines.sasrec import SASRecConfig, SASRecRecommender, training_windows
from genrec.config import ConfigError
from genrec.data.schema import Catalog, Dataset
from genrec.data.split import leave_one_out
from genrec.evaluation import evaluate

N_ITEMS = 12
TINY = SASRecConfig(
    hidden_size=16,
    num_layers=1,
    num_heads=2,
    inner_size=32,
    dropout=0.0,
    attn_dropout=0.0,
    max_len=6,
    window_stride=3,
    lr=1e-2,
    batch_size=16,
    max_epochs=10,
    patience=10,
    eval_every=5,
    device="cpu",
)


def cycle_dataset(n_users: int = 48, length: int = 10) -> Dataset:
    """User u watches items u, u+1, u+2, ... (mod N): the next item is always last + 1."""
    items = pd.DataFrame(
        {
            "item_id": [f"i{j}" for j in range(N_ITEMS)],
            "title": [f"Item {j}" for j in range(N_ITEMS)],
            "categories": [() for _ in range(N_ITEMS)],
            "description": "",
        }
    )
    catalog = Catalog(items)
    rows = []
    for u in range(n_users):
        for t in range(length):
            item = catalog.indices([f"i{(u + t) % N_ITEMS}"])[0]
            rows.append((f"u{u:03d}", int(item), t))
    frame = pd.DataFrame(rows, columns=["user_id", "item_index", "timestamp"])
    frame["rating"] = float("nan")
    frame["request"] = ""
    return Dataset("cycle", catalog, frame)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return cycle_dataset()


@pytest.fixture(scope="module")
def fitted(dataset: Dataset) -> SASRecRecommender:
    return SASRecRecommender(TINY).fit(dataset, seed=0)


def test_learns_the_next_item_of_a_cycle(dataset: Dataset, fitted: SASRecRecommender) -> None:
    split = leave_one_out(dataset)
    result = evaluate(fitted, split, "test", ks=(1, 10), exclude_seen=False)
    assert result.metrics["recall@1"] >= 0.9
    info = fitted.fit_info
    assert info["best_epoch"] in {c["epoch"] for c in info["curve"]}  # type: ignore[attr-defined]
    json.dumps(info)


def test_histories_longer_than_max_len(fitted: SASRecRecommender) -> None:
    catalog = fitted.catalog
    assert catalog is not None
    ids = [f"i{j % N_ITEMS}" for j in range(3, 3 + 3 * TINY.max_len)]
    recs = fitted.recommend(history=ids, k=1, exclude_seen=False)
    assert recs[0].item_id == f"i{(3 + 3 * TINY.max_len) % N_ITEMS}"


def test_same_seed_same_scores(dataset: Dataset) -> None:
    short = replace(TINY, max_epochs=2, eval_every=1, dropout=0.1)
    histories = leave_one_out(dataset).histories("test")
    first = SASRecRecommender(short).fit(dataset, seed=0)
    again = SASRecRecommender(short).fit(dataset, seed=0)
    assert torch.equal(first.score(histories), again.score(histories))

    def ndcgs(model: SASRecRecommender) -> list[object]:
        return [point["valid_ndcg@10"] for point in model.fit_info["curve"]]  # type: ignore[attr-defined]

    assert ndcgs(first) == ndcgs(again)
    other = SASRecRecommender(short).fit(dataset, seed=1)
    assert not torch.equal(first.score(histories), other.score(histories))


def tied_dataset(n_users: int = 40) -> Dataset:
    """Cycle users whose items come in pairs logged at the same second."""
    data = cycle_dataset(n_users)
    frame = data.interactions.assign(timestamp=data.interactions["timestamp"] // 2)
    return Dataset("tied", data.catalog, frame)


def test_shuffled_ties_train_differently_but_reproducibly() -> None:
    data = tied_dataset()
    split = leave_one_out(data)
    before = {u: s.copy() for u, s in split.train.items()}
    short = replace(TINY, max_epochs=3, eval_every=1)
    histories = split.histories("test")
    first = SASRecRecommender(short).fit(data, split, seed=0)
    again = SASRecRecommender(short).fit(data, split, seed=0)
    kept = SASRecRecommender(replace(short, shuffle_ties=False)).fit(data, split, seed=0)
    assert torch.equal(first.score(histories), again.score(histories))
    assert not torch.equal(first.score(histories), kept.score(histories))
    assert all(np.array_equal(before[u], split.train[u]) for u in before)  # split untouched
    assert first.fit_info["train_targets"] == kept.fit_info["train_targets"]


def test_later_items_share_the_target(dataset: Dataset) -> None:
    model = SASRecRecommender(replace(TINY, later_weight=0.4, later_items=2)).fit(dataset, seed=0)
    history = [f"i{j}" for j in range(7)]
    recs = model.recommend(history=history, k=3, exclude_seen=False)
    assert [r.item_id for r in recs[:2]] == ["i7", "i8"]  # next item first, the one after second


def test_a_sampled_softmax_learns_the_cycle_too(dataset: Dataset) -> None:
    """4 uniform draws per step out of 12 items (with the log(N / S) correction) instead of
    the full softmax: still learns the next item, reproducibly."""
    sampled = replace(TINY, negatives=4, max_epochs=20, eval_every=10, patience=10)
    model = SASRecRecommender(sampled).fit(dataset, seed=0)
    result = evaluate(model, leave_one_out(dataset), "test", ks=(1,), exclude_seen=False)
    assert result.metrics["recall@1"] >= 0.9
    again = SASRecRecommender(sampled).fit(dataset, seed=0)
    histories = leave_one_out(dataset).histories("test")
    assert torch.equal(model.score(histories), again.score(histories))


def test_label_smoothing_with_a_sampled_softmax_is_refused(dataset: Dataset) -> None:
    with pytest.raises(ConfigError, match="label_smoothing needs the full softmax"):
        SASRecRecommender(replace(TINY, negatives=4, label_smoothing=0.1)).fit(dataset, seed=0)


def test_save_load_round_trip(dataset: Dataset, fitted: SASRecRecommender, tmp_path: Path) -> None:
    fitted.save(tmp_path / "model")
    loaded = genrec.load(tmp_path / "model")
    assert isinstance(loaded, SASRecRecommender)
    assert loaded.config == fitted.config
    histories = leave_one_out(dataset).histories("test")
    assert torch.equal(fitted.score(histories), loaded.score(histories))
    idx_a, _ = fitted.recommend_indices(histories, 5)
    idx_b, _ = loaded.recommend_indices(histories, 5)
    np.testing.assert_array_equal(idx_a, idx_b)
    assert loaded.recommend(user="u001", k=3) == fitted.recommend(user="u001", k=3)


def test_empty_history_scores_by_popularity(fitted: SASRecRecommender) -> None:
    empty = np.zeros(0, dtype=np.int64)
    scores = fitted.score([empty, np.array([0, 1], dtype=np.int64)])
    assert scores.shape == (2, N_ITEMS)
    assert torch.isfinite(scores).all()
    assert fitted.popularity is not None
    assert torch.equal(scores[0], fitted.popularity)
    assert len(fitted.recommend(history=[], k=4)) == 4


def test_training_windows_cover_every_target_once() -> None:
    seq = np.arange(23, dtype=np.int64)
    inputs, targets = training_windows([seq, np.array([5], dtype=np.int64)], 6, 4)
    kept = targets[targets >= 0]
    np.testing.assert_array_equal(np.sort(kept), np.arange(1, 23))
    for x, y in zip(inputs, targets, strict=True):
        mask = y >= 0
        # left-aligned windows: each target is the item after its input (ids are 1-based)
        np.testing.assert_array_equal(x[mask], y[mask])
        assert x[0] > 0


def test_config_round_trips_as_json() -> None:
    cfg = SASRecConfig()
    values = json.loads(json.dumps(asdict(cfg)))
    assert SASRecConfig(**values) == cfg
    assert all(isinstance(v, int | float | bool | str | None) for v in values.values())


@pytest.mark.parametrize(
    "bad",
    [
        {"hidden_size": 0},
        {"hidden_size": 30, "num_heads": 4},
        {"dropout": 1.0},
        {"attn_dropout": -0.1},
        {"max_len": 0},
        {"window_stride": 0},
        {"window_stride": 60},
        {"lr": 0.0},
        {"lr_end_factor": 1.5},
        {"weight_decay": -1.0},
        {"label_smoothing": 1.0},
        {"later_weight": 1.0},
        {"later_weight": -0.1},
        {"later_items": 0},
        {"negatives": -1},
        {"batch_size": 0},
        {"max_epochs": 0},
        {"patience": 0},
        {"eval_every": 0},
        {"max_train_seconds": -1.0},
        {"device": "tpu"},
    ],
)
def test_config_rejects_bad_values(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        SASRecRecommender(SASRecConfig(**bad))  # type: ignore[arg-type]
