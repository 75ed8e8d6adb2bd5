"""Constrained beam search against brute force, batched against one-by-one, and validity."""

import copy

import numpy as np
import pytest
import torch

from genrec.generative.decoding import (
    Guidance,
    beam_search,
    hybrid_search,
    item_logprobs,
    score_all_hybrid,
    score_all_items,
)
from genrec.generative.model import GenerativeNet, NetworkShape
from genrec.indexing import IndexConfig, SemanticIndex


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(60, 8))
    index = SemanticIndex.fit(vectors, IndexConfig((4, 3)))
    shape = NetworkShape(
        n_items=60,
        codebook_sizes=(4, 3),
        nodes_per_depth=tuple(index.nodes_per_depth),
        request_dim=8,
        hidden_size=16,
        num_layers=1,
        num_heads=2,
        inner_size=32,
        max_len=10,
        dropout=0.0,
        attn_dropout=0.0,
    )
    model = GenerativeNet(shape, torch.from_numpy(index.codes), index.tensors())
    with torch.no_grad():  # random weights with large spread, so the ranking is not flat
        for p in model.parameters():
            p.normal_(0, 1.0)
    return model.eval()


def _states(net, batch, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, net.shape.hidden_size, generator=gen)


def test_brute_force_probabilities_sum_to_one(net):
    with torch.no_grad():
        logp = score_all_items(net, _states(net, 3))
    np.testing.assert_allclose(logp.exp().sum(1).numpy(), 1.0, rtol=1e-4)


def test_wide_beam_equals_brute_force_top_k(net):
    state = _states(net, 5)
    with torch.no_grad():
        exact = score_all_items(net, state)
        items, scores = beam_search(net, state, None, k=10, beam_size=1000)
    top_scores, top_items = exact.topk(10, dim=1)
    assert torch.equal(items, top_items)
    torch.testing.assert_close(scores, top_scores, rtol=1e-5, atol=1e-5)


def test_filters_match_brute_force_over_allowed_items(net):
    state = _states(net, 4, seed=2)
    gen = torch.Generator().manual_seed(3)
    allowed = torch.rand(4, 60, generator=gen) > 0.6
    with torch.no_grad():
        exact = score_all_items(net, state).masked_fill(~allowed, float("-inf"))
        items, scores = beam_search(net, state, allowed, k=8, beam_size=1000)
    expected = exact.topk(8, dim=1)
    assert torch.equal(items, expected.indices)
    torch.testing.assert_close(scores, expected.values, rtol=1e-5, atol=1e-5)
    assert bool(allowed.gather(1, items).all())


def test_batched_equals_one_by_one(net):
    state = _states(net, 6, seed=4)
    with torch.no_grad():
        items, scores = beam_search(net, state, None, k=7, beam_size=4)
        for row in range(6):
            one_items, one_scores = beam_search(net, state[row : row + 1], None, 7, 4)
            assert torch.equal(one_items[0], items[row])
            torch.testing.assert_close(one_scores[0], scores[row])


@pytest.mark.parametrize("beam", [1, 2, 5])
def test_narrow_beams_return_distinct_real_items(net, beam):
    with torch.no_grad():
        items, scores = beam_search(net, _states(net, 32, seed=5), None, k=10, beam_size=beam)
    real = items[items >= 0]
    assert int(real.max()) < 60
    for row in items:
        row = row[row >= 0]
        assert len(set(row.tolist())) == len(row)
    assert bool((scores[:, :-1] >= scores[:, 1:]).all())


def test_random_weights_never_give_invalid_items(net):
    torch.manual_seed(7)
    with torch.no_grad():
        items, _ = beam_search(net, torch.randn(200, 16) * 5, None, k=10, beam_size=3)
    assert bool(((items >= 0) & (items < 60)).all())


def test_k_beyond_allowed_items_pads_with_minus_one(net):
    allowed = torch.zeros(2, 60, dtype=torch.bool)
    allowed[:, [3, 17, 42]] = True
    with torch.no_grad():
        items, scores = beam_search(net, _states(net, 2), allowed, k=6, beam_size=8)
    assert sorted(items[0, :3].tolist()) == [3, 17, 42]
    assert items[:, 3:].eq(-1).all() and torch.isneginf(scores[:, 3:]).all()


def test_transformers_generate_with_prefix_function_agrees(net):
    from genrec.generative.hf_generate import GenerateAdapter

    adapter = GenerateAdapter(net).eval()
    state = _states(net, 3, seed=9)
    with torch.no_grad():
        ours, our_scores = beam_search(net, state, None, k=5, beam_size=5)
        theirs, their_scores = adapter.generate_items(state, k=5, beam_size=5)
    assert torch.equal(ours, theirs)
    torch.testing.assert_close(our_scores, their_scores.float(), rtol=1e-4, atol=1e-4)


def test_guided_beam_search_equals_guided_brute_force(net):
    state, free = _states(net, 4, seed=5), _states(net, 4, seed=6)
    guidance = Guidance(free, 1.5)
    gen = torch.Generator().manual_seed(7)
    allowed = torch.rand(4, 60, generator=gen) > 0.3
    with torch.no_grad():
        exact = score_all_items(net, state, guidance)
        items, scores = beam_search(net, state, allowed, k=6, beam_size=1000, guidance=guidance)
    np.testing.assert_allclose(exact.exp().sum(1).numpy(), 1.0, rtol=1e-4)  # log-probabilities
    expected = exact.masked_fill(~allowed, float("-inf")).topk(6, dim=1)
    assert torch.equal(items, expected.indices)
    torch.testing.assert_close(scores, expected.values, rtol=1e-5, atol=1e-5)


def test_guidance_changes_nothing_without_a_request_and_moves_towards_one(net):
    state, free = _states(net, 3, seed=8), _states(net, 3, seed=9)
    with torch.no_grad():
        plain = score_all_items(net, state)
        same = score_all_items(net, state, Guidance(state, 2.0))
        guided = score_all_items(net, state, Guidance(free, 2.0))
        unconditioned = score_all_items(net, free)
    torch.testing.assert_close(same, plain, rtol=1e-4, atol=1e-4)
    # guidance amplifies what the request adds: here the item it lifts most gains further
    lift = plain - unconditioned
    favoured = lift.argmax(dim=1)
    rows = torch.arange(3)
    assert bool((guided[rows, favoured] > plain[rows, favoured]).all())


@pytest.mark.parametrize("filtered", [False, True])
def test_a_prior_steers_the_beam_to_the_exact_ranking_of_paths_plus_prior(net, filtered):
    state = _states(net, 4, seed=5)
    gen = torch.Generator().manual_seed(6)
    prior = -10 * torch.rand(4, 60, generator=gen)
    allowed = torch.rand(4, 60, generator=gen) > 0.5 if filtered else None
    with torch.no_grad():
        exact = score_all_items(net, state) + prior
        if allowed is not None:
            exact = exact.masked_fill(~allowed, float("-inf"))
        items, scores = beam_search(net, state, allowed, k=8, beam_size=1000, prior=prior)
    expected = exact.topk(8, dim=1)
    assert torch.equal(items, expected.indices)
    # the same order; the scores differ from path + prior by one constant per row
    shift = scores - expected.values
    torch.testing.assert_close(shift, shift[:, :1].expand_as(shift), rtol=1e-4, atol=1e-4)
    if allowed is not None:
        assert bool(allowed.gather(1, items).all())


@pytest.mark.parametrize("filtered", [False, True])
def test_a_flat_prior_leaves_a_narrow_beam_as_it_is(net, filtered):
    # a prior that favours nothing must not favour prefixes with many items either
    state = _states(net, 6, seed=8)
    gen = torch.Generator().manual_seed(9)
    allowed = torch.rand(6, 60, generator=gen) > 0.3 if filtered else None
    with torch.no_grad():
        plain, _ = beam_search(net, state, allowed, k=5, beam_size=2)
        flat, _ = beam_search(net, state, allowed, k=5, beam_size=2, prior=torch.zeros(6, 60))
    assert torch.equal(flat, plain)


def test_a_prior_moves_a_narrow_beam_towards_the_favoured_items(net):
    state = _states(net, 6, seed=7)
    favoured = torch.zeros(6, 60, dtype=torch.bool)
    favoured[:, 40:] = True
    prior = torch.where(favoured, 0.0, -8.0)
    with torch.no_grad():
        plain, _ = beam_search(net, state, None, k=5, beam_size=2)
        steered, _ = beam_search(net, state, None, k=5, beam_size=2, prior=prior)
    assert favoured.gather(1, steered).float().mean() > favoured.gather(1, plain).float().mean()
    assert bool((steered >= 0).all()) and len(set(steered[0].tolist())) == 5


@pytest.mark.parametrize("weight", [0.0, 0.5, 4.0])
def test_hybrid_search_with_a_full_beam_equals_exact_hybrid_scoring(net, weight):
    states = _states(net, 4)
    with torch.no_grad():
        items, scores = hybrid_search(net, states, None, 5, 1000, weight)
        exact = score_all_hybrid(net, states, weight)
    top, best = exact.topk(5, dim=1)
    assert torch.equal(items, best)
    assert torch.allclose(scores, top, atol=1e-5)


def test_hybrid_search_reranks_only_what_the_beam_generated(net):
    states = _states(net, 3, seed=5)
    allowed = torch.ones(3, net.shape.n_items, dtype=torch.bool)
    allowed[:, ::2] = False
    with torch.no_grad():
        # the candidates: every leaf under the beam's last prefixes
        generated, _ = beam_search(net, states, allowed, 8 * net.trie.children[-1].shape[1], 8)
        items, scores = hybrid_search(net, states, allowed, 4, 8, 100.0)
    assert (generated[:, 8:] >= 0).any()  # wider than the beam's best paths alone
    for row in range(3):
        assert set(items[row].tolist()) <= set(generated[row].tolist())
        assert all(allowed[row, i] for i in items[row].tolist())
    assert torch.all(scores[:, :-1] >= scores[:, 1:])


def test_hybrid_distribution_sums_to_one(net):
    with torch.no_grad():
        logp = item_logprobs(net, _states(net, 2), 2.0)
    assert torch.allclose(logp.exp().sum(dim=1), torch.ones(2), atol=1e-5)


def test_a_detached_path_loss_trains_the_decoder_and_request_fusion_only(net):
    trained = copy.deepcopy(net).train()
    ids = torch.tensor([[1, 2, 3, 4]])
    targets = torch.tensor([5])
    request = torch.ones(1, net.shape.request_dim)
    for detach, reaches in ((True, False), (False, True)):
        trained.zero_grad()
        hidden = trained.encode(ids)[:, -1]
        state = trained.start_state(hidden.detach() if detach else hidden, request)
        trained.path_loss(state, targets, detach_items=detach).sum().backward()
        shared = [trained.item_embedding.weight, *trained.backbone.parameters()]
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in shared) == reaches
        for learner in (trained.updates[0][0].weight, trained.request_proj.weight):
            assert learner.grad is not None and learner.grad.abs().sum() > 0


def test_gathered_child_scores_equal_the_matrix_product(net, monkeypatch):
    import genrec.generative.model as model_module

    states = _states(net, 6).view(2, 3, -1)
    last = len(net.trie.children) - 1
    children = net.trie.children[last][torch.tensor([[0, 1, 2], [3, 0, 1]])]  # [2, 3, C]
    with torch.no_grad():
        monkeypatch.setattr(model_module, "_GATHER_RATIO", 10**9)  # one matrix product
        product = net.child_logits(states, children, last)
        monkeypatch.setattr(model_module, "_GATHER_RATIO", 0)  # gather the children
        gathered = net.child_logits(states, children, last)
        gathered_beam = beam_search(net, _states(net, 4), None, 5, 2)
        monkeypatch.setattr(model_module, "_GATHER_RATIO", 10**9)
        product_beam = beam_search(net, _states(net, 4), None, 5, 2)
    finite = torch.isfinite(product)
    assert torch.equal(finite, torch.isfinite(gathered)) and not finite.all()
    assert torch.allclose(product[finite], gathered[finite], atol=1e-5)
    assert torch.equal(gathered_beam[0], product_beam[0])


@pytest.mark.parametrize("guided", [False, True])
def test_large_catalog_ranking_normalises_the_dense_head_over_the_candidates(
    net, guided, monkeypatch
):
    """Above FULL_SOFTMAX_MAX_ITEMS the dense term is normalised over the generated items: the
    same items in the same order, scores shifted by one constant per row."""
    import genrec.generative.decoding as decoding_module

    states = _states(net, 4, seed=7)
    guidance = Guidance(_states(net, 4, seed=8), 1.5) if guided else None
    with torch.no_grad():
        items, scores = hybrid_search(net, states, None, 6, 8, 2.0, guidance)
        monkeypatch.setattr(decoding_module, "FULL_SOFTMAX_MAX_ITEMS", 10)
        large_items, large_scores = hybrid_search(net, states, None, 6, 8, 2.0, guidance)
    assert torch.equal(items, large_items)
    shift = large_scores - scores
    assert torch.allclose(shift, shift[:, :1].expand_as(shift), atol=1e-4)


def test_masks_that_block_few_items_count_from_the_blocked_ones(net, monkeypatch):
    import genrec.indexing as indexing_module

    gen = torch.Generator().manual_seed(4)
    for share in (0.05, 0.7):  # a history-like mask and a category-like one
        allowed = torch.rand(3, 60, generator=gen) > share
        monkeypatch.setattr(indexing_module, "SPARSE_MASK_RATIO", 10**9)  # always dense
        dense = net.trie.allowed_counts(allowed)
        monkeypatch.setattr(indexing_module, "SPARSE_MASK_RATIO", 1)  # always from the blocked
        sparse = net.trie.allowed_counts(allowed)
        for a, b in zip(dense, sparse, strict=True):
            assert torch.equal(a, b)
