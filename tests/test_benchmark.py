"""Benchmark helpers: decoders timed side by side, the generate() comparison, and the request
guidance chosen on validation users."""

from __future__ import annotations

import numpy as np
import torch

import genrec
from genrec.data.split import leave_one_out
from genrec.evaluation import evaluate
from genrec.generative.hf_generate import GenerateAdapter

from harness import (
    choose_guidance,
    generate_calls,
    guidance_sweep,
    recommend_calls,
    request_following,
    side_by_side,
)
from synthetic import mixed_dataset


def test_side_by_side_times_every_decoder_each_round_in_rotating_order():
    order: list[str] = []

    def calls(name: str):
        return (lambda i: order.append(f"{name}1"), lambda i: order.append(f"{name}B"))

    result = side_by_side({"a": calls("a"), "b": calls("b")}, repeats=4, batch_repeats=2, warmup=1)
    singles = [c for c in order if c.endswith("1")]
    assert len(singles) == 2 * (4 + 1) and len(order) - len(singles) == 2 * (2 + 1)
    rounds = [tuple(singles[i : i + 2]) for i in range(0, len(singles), 2)]
    assert ("a1", "b1") in rounds and ("b1", "a1") in rounds  # the order rotates
    assert set(result) == {"a", "b"}
    for figures in result.values():
        assert figures["latency_ms_p95"] >= figures["latency_ms_median"] >= 0
        assert figures["throughput_rps_batch64"] > 0


def test_generate_calls_decode_with_either_forward(tiny_model_dir):
    model = genrec.load(tiny_model_dir)
    histories = [np.array([0, 3, 5]), np.array([2])]
    for library in (True, False):
        one, many = generate_calls(model, histories, beam_size=8, library_forward=library, batch=3)
        one(0)
        many(0)
    ours_one, _ = recommend_calls(model, histories, batch=2)
    ours_one(1)
    adapter = GenerateAdapter(model.net).eval()
    with torch.no_grad():
        states = [
            model.start_states(histories, None, library_forward=library)
            for library in (True, False)
        ]
        items = [adapter.generate_items(s, 3, 8)[0] for s in states]
    assert torch.equal(items[0], items[1])


def test_request_following_on_validation_users_holds_out_the_validation_item(tiny_model_dir):
    dataset = mixed_dataset()  # the data the tiny model was trained on
    split = leave_one_out(dataset)
    model = genrec.load(tiny_model_dir)
    valid = request_following(model, split, dataset.catalog.categories, part="valid")
    test = request_following(model, split, dataset.catalog.categories, part="test")
    assert valid["users"] == len(split.users)  # every item has a genre
    expected = evaluate(model, split, "valid").metrics["ndcg@10"]
    assert np.isclose(valid["ndcg@10_no_request"], expected)
    assert not np.isclose(valid["ndcg@10_no_request"], test["ndcg@10_no_request"])
    # alpha/beta picks are random, so only the request can say which genre comes next
    assert valid["ndcg@10_request_en"] > valid["ndcg@10_no_request"]
    assert valid["ndcg@10_request_zh"] > valid["ndcg@10_no_request"]


def test_guidance_sweep_decodes_with_each_weight_and_restores_the_model(tiny_model_dir):
    dataset = mixed_dataset()
    split = leave_one_out(dataset)
    model = genrec.load(tiny_model_dir)
    before = model.config
    rows = guidance_sweep([model], split, dataset.catalog.categories, grid=(0.0, 4.0))
    assert model.config == before
    assert [r["request_guidance"] for r in rows] == [0.0, 4.0]
    # the weight changes the ranking with a request, never the one without
    assert rows[0]["ndcg@10_no_request"] == rows[1]["ndcg@10_no_request"]
    assert rows[0]["ndcg@10_request_en"] != rows[1]["ndcg@10_request_en"]


def _row(weight: float, en: float, zh: float) -> dict[str, float]:
    return {"request_guidance": weight, "genre_precision@10_en": en, "genre_precision@10_zh": zh}


def test_choose_guidance_takes_the_smallest_weight_reaching_the_precision_in_both_languages():
    rows = [
        _row(2.0, 0.95, 0.94),
        _row(0.0, 0.87, 0.84),
        _row(1.0, 0.93, 0.91),
        _row(0.5, 0.91, 0.88),
    ]
    assert choose_guidance(rows, min_precision=0.90) == 1.0
    assert choose_guidance(rows, min_precision=0.80) == 0.0
    # none reaches it: the smallest weight within the slack of the best lower precision
    assert choose_guidance(rows, min_precision=0.99, slack=0.0) == 2.0
    assert choose_guidance(rows, min_precision=0.99, slack=0.05) == 1.0
    assert choose_guidance(rows, min_precision=0.99, slack=0.10) == 0.0


def test_the_gpu_bench_stops_at_once_without_a_gpu(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.py"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, str(script), "--out", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert done.returncode == 2
    assert "needs a CUDA GPU and none is visible" in done.stderr
    assert not (tmp_path / "benchmarks.md").exists()


def test_scale_catalogs_follow_a_power_law_with_given_vectors():
    from scale import synthetic_dataset

    data = synthetic_dataset(2000, users=300)
    counts = data.interactions["item_index"].value_counts().to_numpy()
    assert counts[0] >= 10 * np.median(counts)  # a head and a long tail
    vectors = np.stack(data.catalog.items["vec"].to_list())
    assert vectors.shape == (2000, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert data.interactions.groupby("user_id").size().min() >= 5
