"""The shared training losses: full cross-entropy with later targets, and the sampled softmax."""

from __future__ import annotations

import pytest
import torch

from genrec.losses import (
    FULL_SOFTMAX_MAX_ITEMS,
    SAMPLED_NEGATIVES,
    negatives_for,
    next_items_loss,
    sampled_items_loss,
)


def test_full_softmax_up_to_the_threshold_then_sampled() -> None:
    assert negatives_for(None, FULL_SOFTMAX_MAX_ITEMS) == 0
    assert negatives_for(None, FULL_SOFTMAX_MAX_ITEMS + 1) == SAMPLED_NEGATIVES
    assert negatives_for(0, 10**6) == 0
    assert negatives_for(500, 10**6) == 500
    assert negatives_for(500, 400) == 0  # drawing more than the catalog: the full softmax


@pytest.mark.parametrize("later", [False, True])
def test_sampled_softmax_over_every_item_is_the_full_softmax_up_to_the_log_q_constant(
    later: bool,
) -> None:
    """Drawing each item exactly once, the sampled loss is the full cross-entropy (every
    negative shifted by log(N / S) = 0; each target in the normaliser once)."""
    g = torch.Generator().manual_seed(0)
    hidden, weight = torch.randn(7, 5, generator=g), torch.randn(40, 5, generator=g)
    bias = torch.randn(40, generator=g)
    targets = torch.randint(40, (7,), generator=g)
    if later:
        ahead = torch.randint(40, (7, 3), generator=g)
        ahead[0, 1:] = -100  # the sequence ended
        targets = torch.cat([targets[:, None], ahead], dim=1)
    every = torch.arange(40)
    if later:
        targets[1, 2] = targets[1, 0]  # an item the row names twice
    sampled = sampled_items_loss(hidden, weight, bias, targets, every, 0.3)
    full = next_items_loss(hidden @ weight.T + bias, targets, 0.3)
    torch.testing.assert_close(sampled, full)


def test_sampled_softmax_estimates_the_full_loss_and_its_gradient_follows_it() -> None:
    """With uniform draws and the log(N / S) correction, the sampled loss approaches the full
    one as S grows, and lowering it raises the target's full-softmax probability."""
    g = torch.Generator().manual_seed(1)
    n, d = 5000, 16
    weight = torch.randn(n, d, generator=g) * 0.3
    hidden = torch.randn(64, d, generator=g, requires_grad=True)
    targets = torch.randint(n, (64,), generator=g)
    full = next_items_loss(hidden @ weight.T, targets, 0.0)
    draws = torch.randint(n, (2000,), generator=g)
    sampled = sampled_items_loss(hidden, weight, None, targets, draws, 0.0)
    assert abs(float(sampled) - float(full)) < 0.05 * float(full)
    (grad,) = torch.autograd.grad(sampled, hidden)
    after = next_items_loss((hidden - 5.0 * grad) @ weight.T, targets, 0.0)
    assert float(after) < float(full)


def test_a_negative_that_is_the_target_is_not_counted() -> None:
    hidden, weight = torch.ones(1, 2), torch.eye(2)
    target = torch.tensor([0])
    only_target = sampled_items_loss(hidden, weight, None, target, torch.tensor([0, 0]), 0.0)
    assert float(only_target) == pytest.approx(0.0, abs=1e-6)  # nothing to compete with
