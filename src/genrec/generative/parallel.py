"""Parallel codes: an auxiliary training loss that predicts the next item's product-quantization
codes all at once (multi-token prediction, after RPG, arXiv 2506.05781).

Every item gets ``M`` codes, one per codebook of ``K``: its unit text vector is cut into ``M``
contiguous slices and each slice is assigned to the nearest of ``K`` k-means centroids learned
on that slice (:func:`parallel_codes`). During training, :class:`ParallelHead` reads the
decoder's start state (the same state the dense head and the code path start from) and
predicts the next item's ``M`` codes in parallel, one ``K``-way softmax per codebook; the loss
is their mean cross-entropy. Its gradient shapes the backbone: states that predict what the
next item is *like*, slice by slice, beside which item it is. The head is not used to rank:
inference never runs it, so it costs training time only (ml-100k measurements in
:class:`~genrec.generative.config.GenerativeConfig`'s comments).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from genrec.kmeans import kmeans, nearest, unit_vectors
from genrec.training import init_weights

MAX_CODEBOOK_SIZE = 256  # codes are stored as one byte each


def code_slices(dim: int, codebooks: int) -> list[np.ndarray]:
    """The feature columns each codebook quantizes: ``codebooks`` contiguous, near-equal slices
    of ``dim`` columns."""
    if not 1 <= codebooks <= dim:
        raise ValueError(f"{codebooks} parallel codebooks need vectors of at least as many "
                         f"dimensions, got {dim}")  # fmt: skip
    return np.array_split(np.arange(dim), codebooks)


def parallel_codes(
    vectors: np.ndarray, codebooks: int, size: int, iterations: int, seed: int
) -> np.ndarray:
    """Product-quantization codes [N, codebooks] (uint8) of the items' vectors [N, D]: the
    vectors are made unit length, cut into ``codebooks`` slices, and each slice is assigned to
    the nearest of ``size`` centroids from k-means on that slice (seeded ``seed`` + slice).
    Deterministic by seed."""
    if not 2 <= size <= MAX_CODEBOOK_SIZE:
        raise ValueError(f"parallel codebook size must be in [2, {MAX_CODEBOOK_SIZE}], got {size}")
    unit = unit_vectors(vectors)
    codes = np.empty((len(vectors), codebooks), dtype=np.uint8)
    for book, columns in enumerate(code_slices(unit.shape[1], codebooks)):
        part = np.ascontiguousarray(unit[:, columns], dtype=np.float64)
        centroids = kmeans(part, size, iterations, seed + book)
        codes[:, book] = nearest(part, centroids, np.einsum("ij,ij->i", part, part))[0]
    return codes


def code_stats(codes: np.ndarray | None, size: int) -> dict[str, float] | None:
    """How the codes spread: distinct code tuples, and the mean share of each codebook's
    entries in use (None without codes)."""
    if codes is None:
        return None
    used = [len(np.unique(codes[:, book])) / size for book in range(codes.shape[1])]
    return {
        "codebooks": int(codes.shape[1]),
        "codebook_size": size,
        "distinct_tuples": len(np.unique(codes, axis=0)) if len(codes) else 0,
        "utilization": round(float(np.mean(used)), 4) if used else 0.0,
    }


class ParallelHead(nn.Module):
    """Predicts ``codebooks`` codes of ``size`` from a state [B, D]: one projection of the state
    per codebook, scored against that codebook's code embeddings."""

    def __init__(self, hidden: int, codebooks: int, size: int) -> None:
        super().__init__()
        self.codebooks = codebooks
        self.proj = nn.Linear(hidden, codebooks * hidden)
        self.code_embeddings = nn.Parameter(torch.empty(codebooks, size, hidden))
        init_weights(self.proj)
        nn.init.normal_(self.code_embeddings, std=0.02)

    def log_probs(self, state: torch.Tensor) -> torch.Tensor:
        """Log-probabilities [B, codebooks, size] of each codebook's code."""
        projected = self.proj(state).view(len(state), self.codebooks, -1)  # [B, M, D]
        logits = torch.einsum("bmd,mkd->bmk", projected, self.code_embeddings)
        return logits.log_softmax(dim=-1)

    def loss(self, state: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy over targets and codebooks; codes [B, codebooks] (any int type)."""
        logp = self.log_probs(state)
        return -logp.gather(2, codes.long().unsqueeze(-1)).mean()
