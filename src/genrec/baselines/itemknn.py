"""Item-based k-nearest neighbours over co-occurrence, with cosine similarity.

Item i's score for a user is the sum over the user's history of sim(h, i), each history item
weighted by recency (``recency_decay ** age``, age 0 = the latest item), which suits next-item
prediction; ``recency_decay = 1`` gives the classic order-free item-kNN. Defaults were chosen on
ml-100k's validation split (decay 0.5 / 50 neighbours: NDCG@10 .117 vs .091 for 0.9 / 100).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from genrec.config import require
from genrec.data.split import SequenceSplit
from genrec.recommender import ScoringRecommender, Validate


@dataclass(frozen=True)
class ItemKNNConfig:
    neighbors: int = 50  # keep the top neighbours of each item
    shrink: float = 10.0  # cosine shrinkage: co / (|a| |b| + shrink), damps rare pairs
    recency_decay: float = 0.5  # weight of a history item `age` steps back: decay ** age
    max_history: int = 50  # only the latest items of a history are used

    def validate(self) -> None:
        require(self.neighbors >= 1, "neighbors must be at least 1")
        require(self.shrink >= 0, "shrink must be non-negative")
        require(0 < self.recency_decay <= 1, "recency_decay must be in (0, 1]")
        require(self.max_history >= 1, "max_history must be at least 1")


class ItemKNNRecommender(ScoringRecommender):
    kind = "itemknn"
    config_class = ItemKNNConfig
    config: ItemKNNConfig

    def __init__(self, config: ItemKNNConfig | None = None) -> None:
        super().__init__(config)
        self.similarity = sp.csr_matrix((0, 0), dtype=np.float32)
        self.popularity = np.zeros(0, dtype=np.float32)

    def _fit(self, split: SequenceSplit, *, seed: int, progress: bool, validate: Validate) -> None:
        n_items = split.n_items
        rows = np.concatenate(
            [np.full(len(seq), u, dtype=np.int64) for u, seq in enumerate(split.train.values())]
            or [np.zeros(0, dtype=np.int64)]
        )
        cols = np.concatenate(list(split.train.values()) or [np.zeros(0, dtype=np.int64)])
        users_items = sp.csr_matrix(
            (np.ones(len(cols), dtype=np.float32), (rows, cols)),
            shape=(len(split.train), n_items),
        )
        users_items.data[:] = 1.0  # repeated (user, item) pairs count once
        co = (users_items.T @ users_items).tocsr().astype(np.float32)  # [N, N]
        co.setdiag(0.0)
        co.eliminate_zeros()
        norms = np.sqrt(np.asarray(users_items.sum(axis=0)).ravel()).astype(np.float32)  # [N]
        co = co.tocoo()
        values = co.data / (norms[co.row] * norms[co.col] + self.config.shrink)
        sim = sp.csr_matrix((values, (co.row, co.col)), shape=(n_items, n_items))
        self.similarity = _keep_top(sim, self.config.neighbors)
        self.popularity = np.asarray(users_items.sum(axis=0), dtype=np.float32).ravel()
        self.fit_info = {"train_interactions": split.train_interactions(), "nonzeros": sim.nnz}

    def score(self, histories: Sequence[np.ndarray]) -> torch.Tensor:
        n_items = self.similarity.shape[0]
        weights = recency_weights(
            histories, n_items, self.config.max_history, self.config.recency_decay
        )  # [B, N] sparse
        scores = np.asarray((weights @ self.similarity).todense(), dtype=np.float32)
        # A tiny popularity term orders items no neighbour reaches (and empty histories).
        scale = 1e-6 / max(float(self.popularity.max(initial=0.0)), 1.0)
        return torch.from_numpy(scores + scale * self.popularity[None, :])  # [B, N]

    def _save_state(self, path: Path) -> None:
        sp.save_npz(path / "similarity.npz", self.similarity.tocsr())
        np.save(path / "popularity.npy", self.popularity)

    def _load_state(self, path: Path) -> None:
        self.similarity = sp.load_npz(path / "similarity.npz").tocsr()
        self.popularity = np.load(path / "popularity.npy")


def recency_weights(
    histories: Sequence[np.ndarray], n_items: int, max_history: int, decay: float
) -> sp.csr_matrix:
    """Sparse [B, N]: each row's latest ``max_history`` items weighted ``decay ** age``."""
    rows, cols, vals = [], [], []
    for row, hist in enumerate(histories):
        recent = np.asarray(hist[-max_history:], dtype=np.int64)
        rows.append(np.full(len(recent), row, dtype=np.int64))
        cols.append(recent)
        vals.append(decay ** np.arange(len(recent) - 1, -1, -1, dtype=np.float64))
    if not rows:
        return sp.csr_matrix((0, n_items), dtype=np.float32)
    return sp.csr_matrix(
        (np.concatenate(vals).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(histories), n_items),
    )  # duplicate (row, item) entries are summed


def _keep_top(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep each row's k largest entries (ties by lower column) of a CSR matrix."""
    matrix = matrix.tocsr()
    rows, cols, vals = [], [], []
    for r in range(matrix.shape[0]):
        start, end = matrix.indptr[r], matrix.indptr[r + 1]
        if start == end:
            continue
        c = matrix.indices[start:end]
        v = matrix.data[start:end]
        if len(v) > k:
            order = np.lexsort((c, -v))[:k]
            c, v = c[order], v[order]
        rows.append(np.full(len(c), r))
        cols.append(c)
        vals.append(v)
    if not rows:
        return sp.csr_matrix(matrix.shape, dtype=np.float32)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=matrix.shape,
        dtype=np.float32,
    )
