"""Benchmark helpers: decoders timed side by side, and the generate() comparison."""

from __future__ import annotations

import numpy as np
import torch

from genrec.benchmark import generate_calls, recommend_calls, side_by_side
from genrec.generative.hf_generate import GenerateAdapter
from genrec.recommender import Recommender


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
    model = Recommender.load(tiny_model_dir)
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
