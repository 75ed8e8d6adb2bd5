"""One contract every recommender passes (in the spirit of implicit's RecommenderBaseTestMixin):
every built-in kind, and the example kind of docs/architecture.md's "Add a model" walkthrough,
run from the page itself."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import genrec
from genrec.data.schema import UnknownItemError
from genrec.models import BUILTIN_KINDS, registry
from genrec.recommender import Recommender, UnknownUserError

from synthetic import GROUP_SIZE, SEEN_PER_USER, checkerboard

ARCHITECTURE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def walkthrough_kind() -> type[Recommender]:
    """Run the first Python block of the "Add a model" section; it defines and registers a
    kind (registering the same class again is harmless)."""
    section = ARCHITECTURE.read_text().split("## Add a model", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None, "the walkthrough's code block is missing"
    module = types.ModuleType("walkthrough")  # dataclasses look their module up
    sys.modules[module.__name__] = module
    exec(compile(code.group(1), str(ARCHITECTURE), "exec"), module.__dict__)
    return registry()["transition"]


WALKTHROUGH = walkthrough_kind()

TINY: dict[str, dict[str, object]] = {
    "popular": {},
    "itemknn": {"neighbors": 20},
    "content": {"popularity_weight": 0.0},
    "sasrec": {
        "hidden_size": 16,
        "num_layers": 1,
        "num_heads": 1,
        "inner_size": 32,
        "max_epochs": 60,
        "batch_size": 16,
        "lr": 0.01,
        "patience": 100,
        "eval_every": 100,
    },
    "generative": {
        "codebook_sizes": (2, 2),
        "hidden_size": 16,
        "num_layers": 1,
        "num_heads": 1,
        "inner_size": 32,
        "max_len": 10,
        "window_stride": 5,
        "max_epochs": 60,
        "batch_size": 16,
        "lr": 0.01,
        "patience": 100,
        "eval_every": 100,
        "beam_size": 8,
    },
    "transition": {},  # docs/architecture.md's example
    # A tiny random GPT-2 (its folder is made per session: see tiny_lm_dir), fully fine-tuned.
    "llm": {
        "lora": False,
        "lr": 3e-3,
        "epochs": 12,
        "batch_size": 16,
        "max_examples": 0,
        "history_items": 5,
        "request_probability": 0.0,
        "beam_width": 24,
    },
}
PERSONALISED = ["itemknn", "content", "sasrec", "generative", "llm", "transition"]


def _build(kind: str, **extra: object) -> Recommender:
    klass = registry()[kind]
    fields = klass.config_class.__dataclass_fields__
    values = {k: v for k, v in {**TINY[kind], **extra}.items() if k in fields}
    return klass(klass.config_class(**values))


@pytest.fixture(scope="module", params=sorted(TINY))
def fitted(request: pytest.FixtureRequest) -> tuple[str, Recommender]:
    board = checkerboard()
    extra = {"base": str(request.getfixturevalue("tiny_lm_dir"))} if request.param == "llm" else {}
    return request.param, _build(request.param, **extra).fit(board, seed=0)


def test_every_built_in_model_and_the_walkthrough_are_covered():
    assert {klass.kind for klass in BUILTIN_KINDS} | {WALKTHROUGH.kind} == set(TINY)


def test_checkerboard_known_answer(fitted):
    kind, model = fitted
    catalog = model.catalog
    for user in ("u0", "u1", "u6", "u7"):
        group = "a" if int(user[1:]) % 2 == 0 else "b"
        recs = model.recommend(user=user, k=GROUP_SIZE - SEEN_PER_USER)
        ids = [r.item_id for r in recs]
        seen = {catalog.item_ids[i] for i in model.histories[user]}
        assert not seen & set(ids), "seen items must be excluded by default"
        if kind in PERSONALISED:
            assert all(i.startswith(group) for i in ids), (kind, user, ids)
    if kind == "popular":
        counts = np.zeros(len(catalog))
        for seq in model.histories.values():
            np.add.at(counts, seq[:-2], 1)  # popularity counts the training part
        top = model.recommend(history=[], k=5)
        assert [r.score for r in top] == sorted(counts, reverse=True)[:5]


def test_scores_are_sorted_and_items_distinct(fitted):
    _, model = fitted
    recs = model.recommend(user="u3", k=10)
    scores = [r.score for r in recs]
    assert scores == sorted(scores, reverse=True)
    assert len({r.item_id for r in recs}) == len(recs) == 10


def test_save_load_round_trip_gives_identical_recommendations(fitted, tmp_path):
    _, model = fitted
    model.save(tmp_path / "m")
    loaded = genrec.load(tmp_path / "m")
    assert type(loaded) is type(model)
    for user in ("u0", "u5"):
        assert loaded.recommend(user=user, k=7) == model.recommend(user=user, k=7)
    assert loaded.recommend(history=["a1"], k=5) == model.recommend(history=["a1"], k=5)


def test_k_larger_than_catalog_returns_every_unseen_item_once(fitted):
    _, model = fitted
    recs = model.recommend(user="u2", k=1000)
    assert len(recs) == 2 * GROUP_SIZE - SEEN_PER_USER
    assert len({r.item_id for r in recs}) == len(recs)
    with_seen = model.recommend(user="u2", k=1000, exclude_seen=False)
    assert len(with_seen) == 2 * GROUP_SIZE


def test_user_with_one_interaction_and_empty_history(fitted):
    _, model = fitted
    assert len(model.recommend(history=["b3"], k=5)) == 5
    assert "b3" not in {r.item_id for r in model.recommend(history=["b3"], k=5)}
    assert len(model.recommend(history=[], k=5)) == 5


def test_unknown_user_and_unknown_item_are_clear_errors(fitted):
    _, model = fitted
    with pytest.raises(UnknownUserError, match="'nobody' is unknown"):
        model.recommend(user="nobody")
    with pytest.raises(UnknownItemError, match="'zz9' is not in the catalog"):
        model.recommend(history=["a1", "zz9"])
    assert len(model.recommend(user="nobody", history=["a1"], k=3)) == 3


def test_exclude_list_and_category_filter_apply(fitted):
    _, model = fitted
    first = model.recommend(user="u0", k=1)[0].item_id
    assert first not in {r.item_id for r in model.recommend(user="u0", k=5, exclude=[first])}
    beta_only = model.recommend(user="u0", k=5, categories=["beta"])
    assert beta_only and all(r.item_id.startswith("b") for r in beta_only)


def test_batched_equals_one_by_one(fitted):
    _, model = fitted
    histories = [model.histories[u] for u in ("u0", "u1", "u2", "u9")]
    top, scores = model.recommend_indices(histories, 6)
    for row, hist in enumerate(histories):
        one_top, one_scores = model.recommend_indices([hist], 6)
        assert one_top[0].tolist() == top[row].tolist()
        np.testing.assert_allclose(one_scores[0], scores[row], rtol=1e-5, atol=1e-6)


def test_k_below_one_is_rejected(fitted):
    _, model = fitted
    with pytest.raises(ValueError, match="k must be at least 1"):
        model.recommend(user="u0", k=0)
