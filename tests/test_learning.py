"""Learning from feedback: examples from the store, the three objectives, for the native
generative model and the LLM backbone, and `genrec finetune` (versions and the guard through the
library are in test_lifecycle.py)."""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

import genrec
from genrec.cli import main
from genrec.learning import FinetuneConfig, build_examples, finetune, read_feedback
from genrec.lifecycle import resolve_model_dir
from genrec.store import FeedbackEvent, ServedList
from genrec.store.database import FeedbackStore

from synthetic import (
    T0,
    USERS,
    beta_share,
    log_beta_lovers,
    mixed_dataset,
    versions_with_feedback,
)


@pytest.mark.parametrize("objective", ["sft", "dpo", "reinforce"])
def test_each_objective_moves_the_model_towards_what_users_liked(model, store_url, objective):
    before = beta_share(model, USERS)
    examples = build_examples(model, *read_feedback(store_url))
    config = FinetuneConfig(objective=objective, epochs=20, lr=3e-3, batch_size=8, kl_weight=0.1)
    tuned, report = finetune(model, examples, config)
    after = beta_share(tuned, USERS)
    assert after > before + 0.2, (objective, before, after)
    assert report["steps"] == 20 * 3 and report["objective"] == objective
    assert beta_share(model, USERS) == before  # the original model is untouched


def test_a_strong_kl_term_keeps_the_model_close_to_the_previous_one(model, store_url):
    examples = build_examples(model, *read_feedback(store_url))
    loose, _ = finetune(model, examples, FinetuneConfig(epochs=10, lr=3e-3, kl_weight=0.0))
    tight, _ = finetune(model, examples, FinetuneConfig(epochs=10, lr=3e-3, kl_weight=50.0,
                                                        sft_weight=0.0))  # fmt: skip
    before = beta_share(model, USERS)
    assert abs(beta_share(tight, USERS) - before) < abs(beta_share(loose, USERS) - before)


def test_examples_use_the_served_context_and_label_events(model, tmp_path):
    url = f"sqlite:///{tmp_path / 'fb.sqlite3'}"
    with FeedbackStore(url) as store:
        shown = ["b1", "b2", "b3", "a4"]
        served = ServedList("r1", "u1", "Show me beta movies", ["a1", "a2"], shown, [0.0] * 4,
                            "v1", False, T0)  # fmt: skip
        store.log_served([served])
        events = [
            ("b1", "purchase", None), ("b2", "impression", None), ("a4", "dislike", None),
            ("b3", "rating", 2.0), ("b3", "rating", 5.0),  # the latest signal wins
            ("zzz", "click", None),  # not in the catalog
        ]  # fmt: skip
        for n, (item, event, value) in enumerate(events):
            store.add_feedback(FeedbackEvent("u1", item, event, T0 + timedelta(seconds=n),
                                             value=value, recommendation_id="r1"))  # fmt: skip
        store.add_feedback(FeedbackEvent("stranger", "a1", "like", T0))  # unknown user, no list
    examples = build_examples(model, *read_feedback(url))
    assert len(examples) == 1
    assert examples.requests == ["Show me beta movies"]
    catalog = model.catalog
    assert list(examples.histories[0]) == list(catalog.indices(["a1", "a2"]))
    assert sorted(examples.positives[0]) == sorted(catalog.indices(["b1", "b3"]).tolist())
    # b2 was shown next to a purchase and not taken: a weak negative.
    assert sorted(examples.negatives[0]) == sorted(catalog.indices(["a4", "b2"]).tolist())
    assert examples.stats["unknown_item"] == 1 and examples.stats["unknown_user"] == 1


def test_one_user_cannot_flood_the_examples(model, tmp_path):
    url = f"sqlite:///{tmp_path / 'fb.sqlite3'}"
    with FeedbackStore(url) as store:
        store.add_feedback_many([
            FeedbackEvent("u1", f"b{i % 10}", "like", T0 + timedelta(seconds=i))
            for i in range(500)
        ] + [FeedbackEvent("u2", "a1", "like", T0)])  # fmt: skip
    config = FinetuneConfig(max_events_per_user=20)
    examples = build_examples(model, *read_feedback(url), config=config)
    assert examples.stats["capped"] == 480


def test_no_usable_feedback_is_a_clear_error(model, tmp_path):
    url = f"sqlite:///{tmp_path / 'fb.sqlite3'}"
    FeedbackStore(url).close()
    examples = build_examples(model, *read_feedback(url))
    with pytest.raises(ValueError, match="no usable feedback"):
        finetune(model, examples)


def test_cli_finetune_writes_the_next_version_and_points_current_to_it(
    tiny_model_dir, tmp_path, capsys
):
    root, url = versions_with_feedback(tiny_model_dir, tmp_path, recorded=False)
    config = tmp_path / "ft.json"
    config.write_text(json.dumps({"objective": "dpo", "epochs": 2}))
    argv = ["finetune", "--model-dir", str(root), "--feedback", url, "--config", str(config),
            "--quiet"]  # fmt: skip
    assert main(argv) == 0
    assert "promoted" in capsys.readouterr().out
    assert resolve_model_dir(root) == root / "v0002"
    assert (root / "CURRENT").read_text().strip() == "v0002"
    assert main(["finetune", "--model-dir", str(root / "v0001"), "--feedback", url]) == 2
    assert "give --out DIR" in capsys.readouterr().err
    # A candidate for an A/B test: a new version, CURRENT left where it was.
    assert main([*argv, "--candidate"]) == 0
    out = capsys.readouterr().out
    assert "v0003" in out and "CURRENT unchanged" in out and "--ab v0003=20%" in out
    assert (root / "CURRENT").read_text().strip() == "v0002"


def test_cli_finetune_guards_with_the_dataset_the_model_was_trained_on(
    tiny_model_dir, tmp_path, capsys
):
    root, url = versions_with_feedback(tiny_model_dir, tmp_path)
    assert main(["finetune", "--model-dir", str(root), "--feedback", url, "--quiet"]) == 0
    assert "validation NDCG@10 changed" in capsys.readouterr().out
    promotion = json.loads((root / "v0002" / "genrec.json").read_text())["fit_info"]["lineage"][
        "promotion"
    ]
    assert promotion["before"] is not None and promotion["after"] is not None

    argv = ["finetune", "--model-dir", str(root), "--feedback", url, "--quiet", "--no-validate"]
    assert main(argv) == 0
    assert "guard off (--no-validate)" in capsys.readouterr().out


def test_cli_finetune_says_when_the_recorded_dataset_cannot_be_loaded(
    tiny_model_dir, tmp_path, capsys
):
    root, url = versions_with_feedback(tiny_model_dir, tmp_path, missing=True)
    assert main(["finetune", "--model-dir", str(root), "--feedback", url, "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "gone.csv" in captured.err and "could not be loaded" in captured.err
    assert "promoted unchecked" in captured.out


def test_new_catalog_items_get_codes_and_are_learned_from_feedback(tiny_model_dir, tmp_path):
    root = tmp_path / "models"
    shutil.copytree(tiny_model_dir, root / "v0001")
    (tmp_path / "new.csv").write_text(
        "item_id,title,categories\n"
        "b10,Beta chronicle volume 10,Beta\n"
        "b1,Beta chronicle volume 1,Beta\n"  # already in the catalog: kept as it is
    )
    url = f"sqlite:///{tmp_path / 'fb.sqlite3'}"
    with FeedbackStore(url) as store:
        store.add_feedback_many([
            FeedbackEvent(user, "b10", "purchase", T0 + timedelta(seconds=n))
            for n, user in enumerate(USERS)
        ])  # fmt: skip
    config = tmp_path / "ft.json"
    config.write_text(json.dumps({"objective": "sft", "epochs": 30, "lr": 0.003}))
    argv = ["finetune", "--model-dir", str(root), "--feedback", url, "--new-items",
            str(tmp_path / "new.csv"), "--config", str(config), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    tuned = genrec.load(root / "v0002")
    assert "b10" in tuned.catalog and len(tuned.catalog) == 21
    shown = [r.item_id for u in USERS for r in tuned.recommend(user=u, k=3)]
    assert shown.count("b10") >= len(USERS) // 2


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_exported_files_give_the_same_examples_as_the_store(model, store_url, tmp_path, suffix):
    with FeedbackStore(store_url) as store:
        events = store.export(tmp_path / f"fb{suffix}")
        served = store.export(tmp_path / f"served{suffix}", table="served")
    from_store = build_examples(model, *read_feedback(store_url))
    from_files = build_examples(model, *read_feedback(str(events), str(served)))
    assert from_files.stats == from_store.stats
    assert from_files.positives == from_store.positives
    assert from_files.negatives == from_store.negatives
    assert [list(h) for h in from_files.histories] == [list(h) for h in from_store.histories]


# --- the LLM backbone learns from the same feedback ------------------------------------------
@pytest.fixture(scope="module")
def llm_model(tiny_lm_dir):
    from genrec.llm.recommender import LLMConfig, LLMRecommender

    config = LLMConfig(base=str(tiny_lm_dir), lora=False, lr=3e-3, epochs=3, batch_size=16,
                       max_examples=0, request_probability=0.0, beam_width=24)  # fmt: skip
    return LLMRecommender(config).fit(mixed_dataset(), seed=0)


@pytest.mark.parametrize("lora", [False, True])
def test_the_llm_backbone_learns_from_feedback_too(llm_model, tmp_path, lora):
    model = copy.copy(llm_model)
    model.config = replace(llm_model.config, lora=lora, lora_r=8)
    url = log_beta_lovers(model, f"sqlite:///{tmp_path / 'fb.sqlite3'}")
    examples = build_examples(model, *read_feedback(url))
    before = beta_share(model, USERS)
    config = FinetuneConfig(epochs=6, lr=1e-2 if lora else 3e-3, batch_size=8, kl_weight=0.1)
    tuned, report = finetune(model, examples, config)
    # The most a top-5 list can hold: the beta items the user has not seen yet.
    unseen_beta = [sum(model.catalog.item_ids[i].startswith("b") for i in range(20)
                       if i not in set(model.histories[u].tolist())) for u in USERS]  # fmt: skip
    ceiling = float(np.mean([min(n, 5) / 5 for n in unseen_beta]))
    assert before < ceiling - 0.1
    assert beta_share(tuned, USERS) == pytest.approx(ceiling)
    assert report["steps"] == 6 * 3
    assert beta_share(model, USERS) == before  # the original model is untouched
    if lora:
        assert not any("lora" in name for name, _ in tuned.lm.named_parameters()), "merged"


def test_cli_finetune_and_new_items_work_for_an_llm_model(llm_model, tmp_path, capsys):
    import pandas as pd

    root = tmp_path / "models"
    llm_model.save(root / "v0001")
    url = log_beta_lovers(llm_model, f"sqlite:///{tmp_path / 'f.sqlite3'}")
    fresh = tmp_path / "new.csv"
    new_item = {"item_id": ["b99"], "title": ["Beta chronicle volume 99"]}
    pd.DataFrame(new_item).to_csv(fresh, index=False)
    argv = ["finetune", "--model-dir", str(root), "--feedback", url, "--new-items", str(fresh),
            "--no-validate", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    assert "1 added" in capsys.readouterr().err
    tuned = genrec.load(resolve_model_dir(root))
    assert tuned.kind == "llm" and "b99" in tuned.catalog
    assert "b99" in {r.item_id for r in tuned.recommend(user="u0", k=20)}


CHILD = """
import hashlib, sys
import numpy as np
import genrec
from genrec.learning import FinetuneConfig, finetune
from genrec.learning.examples import FeedbackExamples

model = genrec.load(sys.argv[1])
users = sorted(model.histories)
histories = [model.histories[u] for u in users]
top, _ = model.recommend_indices(histories, 10, exclude_seen=True)
examples = FeedbackExamples(histories=histories, requests=[""] * len(users),
                            positives=[sorted(set(t[:3].tolist())) for t in top],
                            negatives=[sorted(set(t[3:].tolist())) for t in top])
tuned, _ = finetune(model, examples, FinetuneConfig(objective="reinforce", seed=3))
digest = hashlib.sha256()
for name, value in sorted(tuned.net.state_dict().items()):
    digest.update(name.encode() + value.detach().numpy().tobytes())
print(digest.hexdigest())
"""


@pytest.mark.slow
def test_the_same_finetune_in_two_processes_gives_the_same_weights(tmp_path):
    """Two threads used to add the gradients of advanced indexing in varying order: the same
    seed gave weights differing by ~1e-4 between processes on a catalog of this size (1,682
    items, a long history per user); deterministic kernels (genrec.training) fixed it."""
    import os
    import subprocess
    import sys

    import pandas as pd

    from genrec.generative.recommender import GenerativeConfig, GenerativeRecommender

    from synthetic import make_dataset

    rng = np.random.default_rng(0)
    ids = [f"i{i}" for i in range(1682)]
    items = pd.DataFrame({"item_id": ids, "title": [f"Item number {i}" for i in ids],
                          "categories": [("A",)] * len(ids), "description": ""})  # fmt: skip
    sequences = {f"u{u}": [ids[i] for i in rng.permutation(len(ids))[:100]] for u in range(300)}
    config = replace(GenerativeConfig(), max_epochs=1)
    GenerativeRecommender(config).fit(make_dataset(sequences, items), seed=0).save(tmp_path / "m")
    digests = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "HF_HUB_OFFLINE": "1",
               "OMP_NUM_THREADS": "2"}  # fmt: skip
        done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "m")], env=env,
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        digests.append(done.stdout.strip().splitlines()[-1])
    assert digests[0] == digests[1]
