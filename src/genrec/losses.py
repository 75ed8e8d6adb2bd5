"""The training objectives SASRec and the generator's dense head share: cross-entropy over the
catalog with soft later targets (:func:`next_items_loss`), and above FULL_SOFTMAX_MAX_ITEMS
items a sampled softmax over the step's targets and uniform draws (:func:`sampled_items_loss`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def next_items_loss(
    logits: torch.Tensor, targets: torch.Tensor, later_weight: float, smoothing: float = 0.0
) -> torch.Tensor:
    """Mean cross-entropy over the catalog; logits [M, N], targets [M] (the next item) or
    [M, 1 + K] (the next item, then the K after it, -100 where the sequence ended).

    With later items, each target is a distribution: the next item keeps ``1 - later_weight``
    and the later items that exist share ``later_weight``; a position with none left trains on
    the next item alone."""
    if targets.dim() == 1:
        return F.cross_entropy(logits, targets, label_smoothing=smoothing)
    nxt = F.cross_entropy(logits, targets[:, 0], reduction="none", label_smoothing=smoothing)
    log_p = F.log_softmax(logits, dim=-1)  # [M, N]
    later = targets[:, 1:]  # [M, K]
    found = later >= 0  # [M, K]
    nll = -log_p.gather(1, later.clamp(min=0)) * found  # [M, K]
    count = found.sum(1)  # [M]
    share = later_weight * (count > 0)  # [M]
    later_nll = nll.sum(1) / count.clamp(min=1)  # [M]
    return ((1.0 - share) * nxt + share * later_nll).mean()


# The dense heads score every item while the catalog has at most this many; above it, each step
# scores the batch's targets and SAMPLED_NEGATIVES items drawn uniformly (a sampled softmax).
# A full softmax costs targets x items per step: at 1M items one step of 850 targets holds
# [850, 1M] logits (3.4 GB each, several alive for the backward) and an epoch takes time in
# proportion to the catalog. 8,192 uniform negatives keep the logits at [M, 8192] whatever the
# catalog; below 32,768 items the full softmax is cheap enough and exact.
FULL_SOFTMAX_MAX_ITEMS = 32_768
SAMPLED_NEGATIVES = 8_192


def negatives_for(negatives: int | None, n_items: int) -> int:
    """Items a sampled softmax draws per step (0: full softmax) from a config's ``negatives``
    (None: full up to FULL_SOFTMAX_MAX_ITEMS items, else SAMPLED_NEGATIVES)."""
    if negatives is None:
        return 0 if n_items <= FULL_SOFTMAX_MAX_ITEMS else SAMPLED_NEGATIVES
    return negatives if negatives < n_items else 0


def draw_negatives(n_items: int, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` item rows drawn uniformly with replacement (on the CPU, from ``generator``,
    which every rank seeds alike, so that all ranks of a step share them)."""
    return torch.randint(n_items, (count,), generator=generator)


def sampled_items_loss(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    later_weight: float,
) -> torch.Tensor:
    """:func:`next_items_loss` with a sampled softmax: each row is normalised over its own
    targets and the shared uniform ``negatives`` [S] (item rows of ``weight`` [N, D]), whose
    logits get log(N / S) so that they stand for the whole catalog (the logQ correction of a
    uniform draw); a negative that is one of the row's targets is left out, and a target is
    counted once in the normaliser however often the row names it. hidden [M, D],
    targets [M] or [M, 1 + K] (-100 where none), bias [N] or None."""
    if targets.dim() == 1:
        targets = targets[:, None]
    found = targets >= 0  # [M, P]
    rows = targets.clamp(min=0)
    pos = torch.einsum("md,mpd->mp", hidden, weight[rows])  # [M, P]
    neg = hidden @ weight[negatives].T  # [M, S]
    if bias is not None:
        pos, neg = pos + bias[rows], neg + bias[negatives]
    neg = neg + float(np.log(weight.shape[0] / len(negatives)))
    hit = (negatives[None, None, :] == rows[:, :, None]) & found[..., None]  # [M, P, S]
    neg = neg.masked_fill(hit.any(1), float("-inf"))
    pos = pos.masked_fill(~found, float("-inf"))
    same = (rows[:, :, None] == rows[:, None, :]) & found[:, None, :]  # [M, P, P]
    repeat = torch.tril(same, diagonal=-1).any(2)  # a target already in the row: once in Z
    once = pos.masked_fill(repeat, float("-inf"))
    log_z = torch.logsumexp(torch.cat([once, neg], dim=1), dim=1, keepdim=True)  # [M, 1]
    nll = (log_z - pos).masked_fill(~found, 0.0)  # [M, P]
    if targets.shape[1] == 1:
        return nll[:, 0].mean()
    count = found[:, 1:].sum(1)
    share = later_weight * (count > 0)
    later_nll = nll[:, 1:].sum(1) / count.clamp(min=1)
    return ((1.0 - share) * nll[:, 0] + share * later_nll).mean()
