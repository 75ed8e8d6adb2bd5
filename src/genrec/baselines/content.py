"""Content-based filtering, the seed article's own recommendation component.

Items are ranked by the cosine similarity of their text (title, categories, description) to a
profile of the user's history: the recency-weighted sum of the history items' TF-IDF vectors.
It needs no interactions to place an item, so new catalog items are recommendable at once.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from genrec.baselines.itemknn import recency_weights
from genrec.config import require
from genrec.data.split import SequenceSplit
from genrec.recommender import ScoringRecommender, Validate


@dataclass(frozen=True)
class ContentConfig:
    recency_decay: float = 0.95  # weight of a history item `age` steps back: decay ** age
    max_history: int = 20
    ngram_max: int = 2  # word n-grams up to this length
    min_df: int = 1
    category_weight: int = 2  # categories repeated this many times in the item text
    popularity_weight: float = 1.0  # adds weight * log1p(count) / log1p(max count)

    # Defaults chosen on ml-100k's validation split (NDCG@10 .050; without the popularity
    # prior .021: genres and titles alone say little about which film comes next).

    def validate(self) -> None:
        require(0 < self.recency_decay <= 1, "recency_decay must be in (0, 1]")
        require(self.max_history >= 1, "max_history must be at least 1")
        require(self.ngram_max >= 1, "ngram_max must be at least 1")
        require(self.min_df >= 1, "min_df must be at least 1")
        require(self.category_weight >= 0, "category_weight must be non-negative")
        require(self.popularity_weight >= 0, "popularity_weight must be non-negative")


class ContentRecommender(ScoringRecommender):
    kind = "content"
    config_class = ContentConfig
    config: ContentConfig

    def __init__(self, config: ContentConfig | None = None) -> None:
        super().__init__(config)
        self.vectorizer: TfidfVectorizer | None = None
        self.item_vectors = sp.csr_matrix((0, 0), dtype=np.float32)
        self.prior = np.zeros(0, dtype=np.float32)

    def item_texts(self) -> list[str]:
        catalog = self.require_catalog()
        texts = []
        for title, cats, desc in zip(
            catalog.items["title"],
            catalog.items["categories"],
            catalog.items["description"],
            strict=True,
        ):
            cat_text = " ".join(c.replace(" ", "_").replace("'", "") for c in cats)
            texts.append(
                " ".join([str(title), *([cat_text] * self.config.category_weight), str(desc or "")])
            )
        return texts

    def _fit(self, split: SequenceSplit, *, seed: int, progress: bool, validate: Validate) -> None:
        self.vectorizer = TfidfVectorizer(
            ngram_range=(1, self.config.ngram_max), min_df=self.config.min_df, sublinear_tf=True
        )
        matrix = self.vectorizer.fit_transform(self.item_texts())
        self.item_vectors = normalize(matrix).astype(np.float32).tocsr()  # [N, V]
        counts = np.zeros(split.n_items, dtype=np.float64)
        for seq in split.train.values():
            np.add.at(counts, seq, 1.0)
        self.prior = (np.log1p(counts) / max(np.log1p(counts.max(initial=0.0)), 1.0)).astype(
            np.float32
        )
        self.fit_info = {"vocabulary": len(self.vectorizer.vocabulary_)}

    def score(self, histories: Sequence[np.ndarray]) -> torch.Tensor:
        n_items = self.item_vectors.shape[0]
        weights = recency_weights(
            histories, n_items, self.config.max_history, self.config.recency_decay
        )  # [B, N]
        profiles = normalize(weights @ self.item_vectors)  # [B, V]
        scores = np.asarray((profiles @ self.item_vectors.T).todense(), dtype=np.float32)
        # The prior (tiny when popularity_weight is 0) orders ties and empty histories.
        prior_weight = self.config.popularity_weight or 1e-6
        return torch.from_numpy(scores + prior_weight * self.prior[None, :])  # [B, N]

    def _save_state(self, path: Path) -> None:
        sp.save_npz(path / "item_vectors.npz", self.item_vectors)
        np.save(path / "prior.npy", self.prior)
        with open(path / "vectorizer.pkl", "wb") as handle:
            pickle.dump(self.vectorizer, handle)

    def _load_state(self, path: Path) -> None:
        self.item_vectors = sp.load_npz(path / "item_vectors.npz").tocsr()
        self.prior = np.load(path / "prior.npy")
        with open(path / "vectorizer.pkl", "rb") as handle:
            self.vectorizer = pickle.load(handle)
