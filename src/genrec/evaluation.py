"""Metrics (pure functions over target ranks) and the full-catalog evaluator.

Every model ranks the whole catalog; there are no sampled negatives. With one target per user,
Recall@K equals HR@K.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from tqdm.auto import tqdm

from genrec.data.split import Part, SequenceSplit

DEFAULT_KS = (5, 10, 20)


class Ranker(Protocol):
    """What the evaluator needs of a model: batched top-k over catalog indices (every
    :class:`~genrec.recommender.Recommender` is one)."""

    def recommend_indices(
        self,
        histories: Sequence[np.ndarray],
        k: int,
        *,
        requests: Sequence[str] | None = None,
        exclude_seen: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]: ...


def target_ranks(top_indices: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank of each target in its row of ``top_indices`` [B, K]; -1 when absent."""
    hits = top_indices == targets[:, None]  # [B, K]
    found = hits.any(axis=1)
    return np.where(found, hits.argmax(axis=1), -1)


def recall_at_k(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per-user Recall@k (= HR@k with a single target)."""
    return ((ranks >= 0) & (ranks < k)).astype(np.float64)


def ndcg_at_k(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per-user NDCG@k with a single relevant item: 1/log2(rank + 2) if within k."""
    hit = (ranks >= 0) & (ranks < k)
    return np.where(hit, 1.0 / np.log2(np.maximum(ranks, 0) + 2.0), 0.0)


def reciprocal_rank(ranks: np.ndarray, k: int | None = None) -> np.ndarray:
    """Per-user reciprocal rank, 0 when the target is not in the list (or not within k)."""
    hit = ranks >= 0 if k is None else (ranks >= 0) & (ranks < k)
    return np.where(hit, 1.0 / (np.maximum(ranks, 0) + 1.0), 0.0)


def coverage(top_indices: np.ndarray, n_items: int) -> float:
    """Share of the catalog that appears in at least one list."""
    valid = top_indices[(top_indices >= 0) & (top_indices < n_items)]
    return float(np.unique(valid).size / n_items) if n_items else 0.0


def invalid_rate(top_indices: np.ndarray, n_items: int) -> float:
    """Share of returned slots naming something that is not a catalog item.

    A slot of -1 means "nothing left to recommend" and is not a returned item; any other value
    outside [0, N) is invented.
    """
    returned = top_indices != -1
    if not returned.any():
        return 0.0
    bad = returned & ((top_indices < 0) | (top_indices >= n_items))
    return float(bad.sum() / returned.sum())


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, *, samples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of a - b over users and its 95% percentile interval, resampling users together."""
    if a.shape != b.shape:
        raise ValueError("paired bootstrap needs per-user values for the same users")
    diff = a - b
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(diff), size=(samples, len(diff)))
    means = diff[picks].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(diff.mean()), float(low), float(high)


@dataclass
class EvalResult:
    """Aggregate metrics, the protocol that produced them, and per-user values for paired tests."""

    metrics: dict[str, float]
    protocol: dict[str, object]
    per_user: dict[str, np.ndarray] = field(repr=False)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {**self.metrics, "protocol": self.protocol, "eval_seconds": round(self.seconds, 3)}


SCORE_ELEMENTS = 2**26  # scores a batch may hold: 256 MB of float32


def rows_per_batch(n_items: int, most: int = 256) -> int:
    """Users ranked together: ``most``, fewer on large catalogs so that their scores over the
    catalog stay within ``SCORE_ELEMENTS`` (a million items: 67 users; the peak memory of a
    1M-item fit came from validation batches of 256 users)."""
    return max(1, min(most, SCORE_ELEMENTS // max(n_items, 1)))


def evaluate(
    model: Ranker,
    split: SequenceSplit,
    part: Part = "test",
    *,
    ks: Sequence[int] = DEFAULT_KS,
    exclude_seen: bool = True,
    requests: Sequence[str] | None = None,
    batch_size: int | None = None,
    progress: bool = False,
) -> EvalResult:
    """Rank the full catalog for every evaluated user and score the held-out item.

    ``mrr`` is computed over the top ``max(ks)`` list (a target ranked lower contributes 0).
    With ``exclude_seen`` every item of the user's input history is removed from the candidates.
    ``batch_size`` users are ranked at a time (default: :func:`rows_per_batch`).
    """
    if not split.users:
        raise ValueError("the split has no evaluated users (each needs at least 3 interactions)")
    batch_size = batch_size or rows_per_batch(split.n_items)
    ks = sorted(set(ks))
    depth = ks[-1]
    histories = split.histories(part)
    targets = split.targets(part)
    n_items = split.n_items
    started = time.perf_counter()
    tops: list[np.ndarray] = []
    bar = tqdm(total=len(histories), desc=f"evaluate {part}", unit="user", disable=not progress)
    for start in range(0, len(histories), batch_size):
        batch = histories[start : start + batch_size]
        reqs = None if requests is None else list(requests[start : start + batch_size])
        top, _ = model.recommend_indices(batch, depth, exclude_seen=exclude_seen, requests=reqs)
        if top.shape[1] < depth:
            top = np.pad(top, ((0, 0), (0, depth - top.shape[1])), constant_values=-1)
        tops.append(top)
        bar.update(len(batch))
    bar.close()
    seconds = time.perf_counter() - started
    top_all = np.concatenate(tops, axis=0)  # [U, depth]
    ranks = target_ranks(top_all, targets)
    per_user: dict[str, np.ndarray] = {}
    metrics: dict[str, float] = {}
    for k in ks:
        per_user[f"recall@{k}"] = recall_at_k(ranks, k)
        per_user[f"ndcg@{k}"] = ndcg_at_k(ranks, k)
    per_user["mrr"] = reciprocal_rank(ranks)
    per_user["mrr@10"] = reciprocal_rank(ranks, 10)
    for key, values in per_user.items():
        metrics[key] = float(values.mean())
    metrics["coverage"] = coverage(top_all[:, : min(10, depth)], n_items)
    metrics["invalid_rate"] = invalid_rate(top_all, n_items)
    seen_hits = 0
    if exclude_seen:
        for row, hist in zip(top_all, histories, strict=True):
            seen_hits += int(np.isin(row[row >= 0], hist).sum())
    metrics["seen_rate"] = seen_hits / max(int((top_all >= 0).sum()), 1)
    protocol: dict[str, object] = {
        "split": "leave-one-out by time (last = test, second-to-last = valid)",
        "part": part,
        "ranking": "full catalog",
        "exclude_seen": exclude_seen,
        "users": len(histories),
        "catalog_items": n_items,
        "mrr_depth": depth,
        "coverage_at": min(10, depth),
        "requests": "none" if requests is None else "given",
    }
    return EvalResult(metrics=metrics, protocol=protocol, per_user=per_user, seconds=seconds)


def validation_ndcg(
    split: SequenceSplit, *, exclude_seen: bool = True
) -> Callable[[Ranker], float]:
    """The usual early-stopping signal: full-catalog NDCG@10 on the split's validation items of
    the model as it is when called. Training harnesses may pass any other ``Validate``."""

    def validate(model: Ranker) -> float:
        result = evaluate(model, split, "valid", exclude_seen=exclude_seen)
        return float(result.metrics["ndcg@10"])

    return validate
