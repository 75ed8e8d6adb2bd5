"""Parallel codes: product quantization of the item vectors, the head that predicts them, and
the auxiliary loss inside the generator's training."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

import genrec
from genrec.generative.parallel import ParallelHead, code_slices, code_stats, parallel_codes
from genrec.generative.recommender import GenerativeConfig, GenerativeRecommender
from genrec.generative.trainer import GeneratorObjective

from synthetic import TINY_GENERATIVE as TINY
from synthetic import mixed_dataset


def _two_way_vectors() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8 items whose first half-vector says one grouping and whose second says another."""
    rng = np.random.default_rng(0)
    first = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    second = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    poles = np.array([[4.0, 0, 0], [0, 4.0, 0]])
    vectors = np.hstack([poles[first], poles[second]]) + rng.normal(scale=0.1, size=(8, 6))
    return vectors.astype(np.float32), first, second


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return len(set(zip(a.tolist(), b.tolist(), strict=True))) == len(set(a.tolist()))


def test_each_codebook_quantizes_its_own_slice_of_the_vector():
    vectors, first, second = _two_way_vectors()
    codes = parallel_codes(vectors, 2, 2, 20, seed=0)
    assert codes.shape == (8, 2) and codes.dtype == np.uint8
    assert _same_partition(codes[:, 0], first) and _same_partition(first, codes[:, 0])
    assert _same_partition(codes[:, 1], second) and _same_partition(second, codes[:, 1])
    assert np.array_equal(codes, parallel_codes(vectors, 2, 2, 20, seed=0))  # by seed
    stats = code_stats(codes, 2)
    assert stats == {"codebooks": 2, "codebook_size": 2, "distinct_tuples": 4, "utilization": 1.0}


def test_codes_ignore_a_vectors_length():
    vectors, _, _ = _two_way_vectors()
    scaled = vectors * np.arange(1, 9, dtype=np.float32)[:, None]
    assert np.array_equal(parallel_codes(vectors, 3, 4, 20, 1), parallel_codes(scaled, 3, 4, 20, 1))


def test_slices_cover_every_column_once_and_bad_sizes_are_named():
    slices = code_slices(10, 4)
    assert [len(s) for s in slices] == [3, 3, 2, 2]
    assert np.array_equal(np.concatenate(slices), np.arange(10))
    with pytest.raises(ValueError, match="5 parallel codebooks need vectors of at least"):
        code_slices(4, 5)
    with pytest.raises(ValueError, match=r"codebook size must be in \[2, 256\], got 300"):
        parallel_codes(np.ones((3, 4), np.float32), 2, 300, 5, 0)


def test_the_head_loss_is_the_mean_cross_entropy_over_codebooks():
    torch.manual_seed(0)
    head = ParallelHead(hidden=8, codebooks=3, size=5)
    state = torch.randn(4, 8)
    codes = torch.randint(0, 5, (4, 3), dtype=torch.uint8)
    logp = head.log_probs(state)
    assert logp.shape == (4, 3, 5)
    assert torch.allclose(logp.exp().sum(-1), torch.ones(4, 3))
    logits = torch.einsum(
        "bmd,mkd->bmk", head.proj(state).view(4, 3, 8), head.code_embeddings
    ).reshape(-1, 5)
    expected = F.cross_entropy(logits, codes.long().reshape(-1))
    assert torch.allclose(head.loss(state, codes), expected)


def test_config_rejects_bad_parallel_settings():
    for bad in ({"parallel_codes": -1}, {"parallel_codebook_size": 1},
                {"parallel_codebook_size": 257}, {"parallel_loss_weight": -0.5}):  # fmt: skip
        with pytest.raises(ValueError, match="parallel"):
            GenerativeConfig(**{**TINY.__dict__, **bad}).validate()


def _parallel_model(**overrides: object) -> GenerativeRecommender:
    config = GenerativeConfig(**{**TINY.__dict__, "max_epochs": 2, "parallel_codes": 4,
                                 "parallel_codebook_size": 4, **overrides})  # fmt: skip
    return GenerativeRecommender(config).fit(mixed_dataset(users=12), seed=0)


@pytest.fixture(scope="module")
def parallel_model() -> GenerativeRecommender:
    return _parallel_model()


def test_a_fit_trains_the_head_and_reports_the_codes(parallel_model):
    net = parallel_model.net
    assert net is not None and net.parallel is not None
    assert (net.shape.parallel_codes, net.shape.parallel_codebook_size) == (4, 4)
    stats = parallel_model.fit_info["parallel_codes"]
    assert stats["codebooks"] == 4 and stats["codebook_size"] == 4
    assert 1 < stats["distinct_tuples"] <= 20 and 0 < stats["utilization"] <= 1
    off = GenerativeRecommender(dataclasses.replace(TINY, max_epochs=2, parallel_codes=0))
    off.fit(mixed_dataset(users=12), seed=0)
    assert off.net is not None and off.net.parallel is None
    assert off.fit_info["parallel_codes"] is None


def test_the_objective_adds_the_weighted_code_loss_with_gradient_into_the_backbone(
    parallel_model,
):
    net = parallel_model.net
    assert net is not None and net.parallel is not None
    net.eval()  # no dropout: the same forward twice
    codes = torch.from_numpy(
        parallel_codes(parallel_model.item_vectors, 4, 4, TINY.kmeans_iterations, 0)
    )
    table = torch.zeros(1, net.request_proj.in_features)
    x = torch.tensor([[net.shape.n_items + 1, 1, 2, 3]])
    y = torch.tensor([[0, 1, 2, 3]])
    requests = torch.full_like(y, 0)
    cfg = dataclasses.replace(parallel_model.config, parallel_loss_weight=0.5)
    cpu = torch.device("cpu")
    with_codes = GeneratorObjective(net, table, cfg, cpu, codes)(x, y, requests)
    without = GeneratorObjective(
        net, table, dataclasses.replace(cfg, parallel_loss_weight=0.0), cpu, codes
    )(x, y, requests)
    state = net.start_state(net.encode(x)[y >= 0], table[requests[y >= 0]])
    assert torch.allclose(with_codes - without, 0.5 * net.parallel.loss(state, codes[y[y >= 0]]))
    net.zero_grad()
    (with_codes - without).backward()
    for grad in (net.backbone.h[0].attn.c_attn.weight.grad, net.parallel.proj.weight.grad):
        assert grad is not None and grad.abs().sum() > 0
    with pytest.raises(ValueError, match="exactly when the network has their head"):
        GeneratorObjective(net, table, cfg, cpu, None)


def test_the_head_never_changes_a_recommendation(parallel_model):
    before = parallel_model.recommend(user="u1", k=8, request="Show me beta movies")
    head = parallel_model.net.parallel
    with torch.no_grad():
        head.code_embeddings.normal_()
        head.proj.weight.mul_(-3)
    assert parallel_model.recommend(user="u1", k=8, request="Show me beta movies") == before


def test_a_model_with_the_head_saves_loads_and_grows(tmp_path):
    model = _parallel_model()
    model.save(tmp_path / "m")
    loaded = genrec.load(tmp_path / "m")
    assert loaded.net is not None and loaded.net.parallel is not None
    assert torch.equal(loaded.net.parallel.proj.weight, model.net.parallel.proj.weight)
    new = pd.DataFrame({"item_id": ["a-new"], "title": ["Alpha saga part 99"],
                        "categories": [("Alpha",)], "description": ""})  # fmt: skip
    loaded.add_items(new)
    assert torch.equal(loaded.net.parallel.code_embeddings, model.net.parallel.code_embeddings)
    assert "a-new" in {r.item_id for r in loaded.recommend(history=["a1"], k=21)}


def test_narrow_item_vectors_get_one_codebook_a_column():
    data = mixed_dataset(users=12)
    rng = np.random.default_rng(0)
    data.catalog.items["embedding"] = [rng.normal(size=3).tolist() for _ in range(20)]
    config = GenerativeConfig(**{**TINY.__dict__, "max_epochs": 1, "vectors_column": "embedding",
                                 "parallel_codes": 16})  # fmt: skip
    model = GenerativeRecommender(config).fit(data, seed=0)
    assert model.net is not None and model.net.shape.parallel_codes == 3
    assert model.fit_info["parallel_codes"]["codebooks"] == 3
