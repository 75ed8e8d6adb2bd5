"""The request vectors the generator trains with: the data's own request texts, or requests
synthesized from item categories (see :mod:`genrec.requests`) for a share of the targets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from genrec.data.split import SequenceSplit
from genrec.generative.config import GenerativeConfig
from genrec.requests import Nouns, RequestSynthesizer
from genrec.training import training_windows


@dataclass
class TrainingRequests:
    """The request vectors training uses: real request texts, or synthesized ones."""

    kind: str  # "data" or "synthesized"
    table: np.ndarray  # [R, Dr], row 0 = no request (zeros)
    ids_by_text: dict[str, int]
    per_item: np.ndarray  # [N, 2, Q] request ids a target may draw, by language (en, zh), -1 pad
    per_item_count: np.ndarray  # [N, 2]
    probability: float
    chinese_share: float = 0.5

    @classmethod
    def build(
        cls,
        split: SequenceSplit,
        categories: Sequence[tuple[str, ...]],
        encode: Callable[[list[str]], np.ndarray],
        cfg: GenerativeConfig,
        nouns: Nouns | None = None,
    ) -> TrainingRequests:
        """The data's own request texts when it has any, else requests synthesized from the
        items' ``categories`` (one tuple per catalog item); ``encode`` embeds request texts."""
        has_real = any(any(r for r in reqs) for reqs in split.train_requests.values())
        if not has_real:
            return cls.synthesized(
                categories, encode, cfg.request_probability, cfg.chinese_share, nouns
            )
        texts = sorted({r for reqs in split.train_requests.values() for r in reqs if r})
        table, ids_by_text = cls._table(texts, encode)
        n_items = len(categories)
        per_item = np.full((n_items, 2, 1), -1, dtype=np.int64)
        return cls("data", table, ids_by_text, per_item, np.zeros((n_items, 2), np.int64),
                   cfg.request_probability, cfg.chinese_share)  # fmt: skip

    @classmethod
    def synthesized(
        cls,
        categories: Sequence[tuple[str, ...]],
        encode: Callable[[list[str]], np.ndarray],
        probability: float,
        chinese_share: float,
        nouns: Nouns | None = None,
    ) -> TrainingRequests:
        """Requests made from item categories: a target may draw any text naming one of its
        category terms, in Chinese with probability ``chinese_share``."""
        synthesizer = RequestSynthesizer(categories, nouns or Nouns())
        triples = synthesizer.vocabulary_with_categories()
        table, ids_by_text = cls._table([t for t, _, _ in triples], encode)
        # Worked out once per distinct tuple of terms (few, even for a million items).
        kind_of: dict[tuple[str, ...], int] = {}
        item_kind = np.array([kind_of.setdefault(t, len(kind_of)) for t in synthesizer.terms],
                             dtype=np.int64)  # fmt: skip
        options = [
            [[i + 1 for i, (_, g, lang) in enumerate(triples) if g in cats and lang == want]
             for want in ("en", "zh")]
            for cats in kind_of
        ]  # fmt: skip
        width = max((len(o) for pair in options for o in pair), default=1) or 1
        per_kind = np.full((len(kind_of), 2, width), -1, dtype=np.int64)
        for k, pair in enumerate(options):
            for lang, opts in enumerate(pair):
                per_kind[k, lang, : len(opts)] = opts
        per_item = per_kind[item_kind].reshape(len(categories), 2, width)
        counts = (per_item >= 0).sum(axis=2)
        return cls("synthesized", table, ids_by_text, per_item, counts, probability, chinese_share)

    @staticmethod
    def _table(
        texts: list[str], encode: Callable[[list[str]], np.ndarray]
    ) -> tuple[np.ndarray, dict[str, int]]:
        vectors = encode(texts) if texts else np.zeros((0, 384))
        dim = vectors.shape[1] if len(vectors) else 384
        table = np.concatenate([np.zeros((1, dim), np.float32), vectors.astype(np.float32)])
        return table, {t: i + 1 for i, t in enumerate(texts)}

    def draw(self, targets: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        """Synthesized request ids for targets: with some probability, one naming a category
        term of the target, in Chinese with probability ``chinese_share``; 0 means no
        request."""
        lang = (rng.random(len(targets)) < self.chinese_share).astype(np.int64)
        counts = self.per_item_count[targets, lang]
        pick = (rng.random(len(targets)) * np.maximum(counts, 1)).astype(np.int64)
        ids = self.per_item[targets, lang, np.minimum(pick, self.per_item.shape[2] - 1)]
        use = (rng.random(len(targets)) < self.probability) & (counts > 0)
        return torch.from_numpy(np.where(use, np.maximum(ids, 0), 0))

    def windows(
        self,
        split: SequenceSplit,
        cfg: GenerativeConfig,
        orders: Sequence[np.ndarray] | None = None,
    ) -> np.ndarray | None:
        """Request ids aligned with the training windows' targets (real requests only); with
        ``orders``, each user's requests reordered as their items were."""
        if self.kind != "data":
            return None
        sequences = []
        for i, user in enumerate(split.train):
            reqs = split.train_requests[user]
            ids = np.array([self.ids_by_text.get(r, 0) for r in reqs], dtype=np.int64)
            if orders is not None:
                ids = ids[orders[i]]
            sequences.append(np.concatenate([[0], ids]))
        # Windows over [0, ids...] line its targets up with the item windows' (the same lengths,
        # the start id first); a target's own request id comes back, -100 (no target) -> 0.
        _, request_targets = training_windows(sequences, cfg.max_len, cfg.window_stride)
        return np.maximum(request_targets, 0)
