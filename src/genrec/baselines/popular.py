"""Most popular items: the floor every personalised model must clear."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genrec.config import require
from genrec.data.split import SequenceSplit
from genrec.recommender import ScoringRecommender, Validate


@dataclass(frozen=True)
class PopularConfig:
    # Count only each user's last N training interactions (0 = all): recent taste in a time split.
    recent_per_user: int = 0

    def validate(self) -> None:
        require(self.recent_per_user >= 0, "recent_per_user must be 0 (all) or positive")


class PopularRecommender(ScoringRecommender):
    kind = "popular"
    config_class = PopularConfig
    config: PopularConfig

    def __init__(self, config: PopularConfig | None = None) -> None:
        super().__init__(config)
        self.counts = np.zeros(0, dtype=np.float32)

    def _fit(self, split: SequenceSplit, *, seed: int, progress: bool, validate: Validate) -> None:
        counts = np.zeros(split.n_items, dtype=np.float64)
        tail = self.config.recent_per_user
        for seq in split.train.values():
            np.add.at(counts, seq[-tail:] if tail else seq, 1.0)
        self.counts = counts.astype(np.float32)
        self.fit_info = {"train_interactions": split.train_interactions()}

    def score(self, histories: Sequence[np.ndarray]) -> torch.Tensor:
        # Item index breaks ties deterministically (indices are a hash order, not popularity).
        row = torch.from_numpy(self.counts)  # [N]
        return row.unsqueeze(0).expand(len(histories), -1).clone()  # [B, N]

    def _save_state(self, path: Path) -> None:
        np.save(path / "popularity.npy", self.counts)

    def _load_state(self, path: Path) -> None:
        self.counts = np.load(path / "popularity.npy")
