"""The one model interface: ``fit``, ``recommend``, ``save``, ``load``.

Every recommender, baseline or generative, implements ``_fit`` and ``recommend_indices`` (batched,
over catalog indices); this class turns that into the user-facing ``recommend`` with external
ids, titles and scores, and handles what every saved model shares (catalog, user histories,
config).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import torch

from genrec.data.schema import Catalog, Dataset
from genrec.data.split import SequenceSplit, leave_one_out

FORMAT_VERSION = 1


class UnknownUserError(KeyError):
    """A user id the model has no history for, and no history was given."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown user"


class ModelDirError(ValueError):
    """A model directory that is missing, incomplete or of another format."""


@dataclass(frozen=True)
class Recommendation:
    item_id: str
    title: str
    score: float

    def to_dict(self) -> dict[str, object]:
        return {"item_id": self.item_id, "title": self.title, "score": self.score}


@dataclass(frozen=True)
class RecommendationList:
    """A ranked list plus the sentence that presents it."""

    items: list[Recommendation]
    text: str

    def to_dict(self) -> dict[str, object]:
        return {"items": [r.to_dict() for r in self.items], "text": self.text}


class Recommender(ABC):
    """Base of every model. Subclasses set ``kind`` and ``config_class``."""

    kind: ClassVar[str]
    config_class: ClassVar[type]
    # Settings added after models were saved without them, with the value that keeps such a
    # saved model behaving as it did (the class default may differ).
    saved_config_defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, config: Any = None) -> None:
        self.config = config if config is not None else self.config_class()
        validate = getattr(self.config, "validate", None)
        if validate is not None:
            validate()
        self.catalog: Catalog | None = None
        self.histories: dict[str, np.ndarray] = {}
        self.fit_info: dict[str, object] = {}

    # ----------------------------------------------------------------- training
    def fit(
        self,
        dataset: Dataset,
        split: SequenceSplit | None = None,
        *,
        seed: int = 0,
        progress: bool = False,
    ) -> Self:
        """Train on the split's training part (validation part for early stopping, if used).

        The user histories kept for ``recommend(user=...)`` are the dataset's full sequences.
        """
        self.catalog = dataset.catalog
        self.histories = dataset.sequences()
        split = split if split is not None else leave_one_out(dataset)
        self._fit(split, seed=seed, progress=progress)
        self.fit_info["dataset"] = dataset.name
        return self

    @abstractmethod
    def _fit(self, split: SequenceSplit, *, seed: int, progress: bool) -> None: ...

    # ---------------------------------------------------------------- inference
    @abstractmethod
    def recommend_indices(
        self,
        histories: Sequence[np.ndarray],
        k: int,
        *,
        exclude_seen: bool = True,
        exclude: Sequence[np.ndarray] | None = None,
        candidates: np.ndarray | None = None,
        requests: Sequence[str] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k catalog indices and scores for each history, best first.

        Returns ``(indices [B, k'], scores [B, k'])`` with ``k' = min(k, catalog size)``; a slot
        with no eligible item left is -1 with score -inf. ``exclude`` adds per-row items to drop,
        ``candidates`` is a boolean mask [N] of allowed items, ``requests`` are free-text requests
        (models that do not read text ignore them).
        """

    def recommend(
        self,
        user: str | None = None,
        history: Sequence[object] | None = None,
        k: int = 10,
        *,
        exclude: Sequence[object] = (),
        exclude_seen: bool = True,
        request: str | None = None,
        categories: Sequence[str] | None = None,
    ) -> list[Recommendation]:
        """Recommend k items for a known user or for an explicit history of item ids.

        Raises :class:`UnknownUserError` for a user the model has not seen when no history is
        given, and :class:`~genrec.data.schema.UnknownItemError` for unknown ids in ``history``.
        """
        catalog = self._require_catalog()
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if history is not None:
            seq = catalog.indices(history)
        elif user is not None:
            if str(user) not in self.histories:
                raise UnknownUserError(
                    f"user '{user}' is unknown to this model; pass a history of item ids instead"
                )
            seq = self.histories[str(user)]
        else:
            seq = np.zeros(0, dtype=np.int64)
        exclude_idx = catalog.indices(exclude) if len(exclude) else np.zeros(0, dtype=np.int64)
        mask = catalog.category_mask(categories) if categories else None
        idx, scores = self.recommend_indices(
            [seq],
            k,
            exclude_seen=exclude_seen,
            exclude=[exclude_idx],
            candidates=mask,
            requests=[request or ""],
        )
        return [
            Recommendation(
                str(catalog.item_ids[i]), str(catalog.items.at[int(i), "title"]), float(s)
            )
            for i, s in zip(idx[0], scores[0], strict=True)
            if i >= 0
        ]

    def recommend_with_text(
        self,
        user: str | None = None,
        history: Sequence[object] | None = None,
        k: int = 10,
        *,
        exclude: Sequence[object] = (),
        exclude_seen: bool = True,
        request: str | None = None,
        categories: Sequence[str] | None = None,
    ) -> RecommendationList:
        """:meth:`recommend` plus a sentence in the request's language naming the items."""
        from genrec.render import NOUNS_BY_DATASET, Nouns, render_sentence

        items = self.recommend(
            user,
            history,
            k,
            exclude=exclude,
            exclude_seen=exclude_seen,
            request=request,
            categories=categories,
        )
        nouns = NOUNS_BY_DATASET.get(str(self.fit_info.get("dataset", "")), Nouns())
        return RecommendationList(items, render_sentence([r.title for r in items], request, nouns))

    def _require_catalog(self) -> Catalog:
        if self.catalog is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() or load()")
        return self.catalog

    # -------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write the model to a directory: ``genrec.json``, catalog, histories, weights."""
        catalog = self._require_catalog()
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        meta = {
            "format_version": FORMAT_VERSION,
            "model": self.kind,
            "config": asdict(self.config),
            "fit_info": self.fit_info,
        }
        if self.fit_info.get("version"):
            meta["version"] = str(self.fit_info["version"])  # serving reports it
        items = catalog.items.copy()
        items["categories"] = items["categories"].map(list)
        items.to_parquet(out / "catalog.parquet", index=False)
        users = list(self.histories)
        pd.DataFrame(
            {"user_id": users, "items": [self.histories[u].tolist() for u in users]}
        ).to_parquet(out / "histories.parquet", index=False)
        self._save_state(out)
        (out / "genrec.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
        return out

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        """Load any saved model; ``Recommender.load`` picks the right class from the directory."""
        from genrec.models import model_class

        src = Path(path)
        meta_path = src / "genrec.json"
        if not meta_path.is_file():
            raise ModelDirError(f"{src} is not a genrec model directory (no genrec.json)")
        meta = json.loads(meta_path.read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ModelDirError(
                f"{src}: model format {meta.get('format_version')} is not supported "
                f"(this genrec reads format {FORMAT_VERSION})"
            )
        klass = model_class(str(meta["model"]))
        if cls is not Recommender and not issubclass(klass, cls):
            raise ModelDirError(f"{src} holds a '{meta['model']}' model, not {cls.__name__}")
        model = klass(klass.config_class(**{**klass.saved_config_defaults, **meta["config"]}))
        items = pd.read_parquet(src / "catalog.parquet")
        items["categories"] = items["categories"].map(tuple)
        model.catalog = Catalog(items, keep_order=True)
        hist = pd.read_parquet(src / "histories.parquet")
        model.histories = {
            str(u): np.asarray(s, dtype=np.int64)
            for u, s in zip(hist["user_id"], hist["items"], strict=True)
        }
        model.fit_info = dict(meta.get("fit_info", {}))
        model._load_state(src)
        return model

    def _save_state(self, path: Path) -> None:  # noqa: B027 - optional hook
        """Write model-specific state (weights, tables). Default: nothing beyond the config."""

    def _load_state(self, path: Path) -> None:  # noqa: B027 - optional hook
        """Read what ``_save_state`` wrote."""


class ScoringRecommender(Recommender):
    """A model that scores every catalog item; ranking, masking and top-k are shared here."""

    @abstractmethod
    def score(self, histories: Sequence[np.ndarray]) -> torch.Tensor:
        """Scores [B, N] for every catalog item (higher is better)."""

    def recommend_indices(
        self,
        histories: Sequence[np.ndarray],
        k: int,
        *,
        exclude_seen: bool = True,
        exclude: Sequence[np.ndarray] | None = None,
        candidates: np.ndarray | None = None,
        requests: Sequence[str] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        n_items = len(self._require_catalog())
        with torch.no_grad():
            scores = self.score(histories).to(torch.float32).clone()  # [B, N]
        scores[~torch.isfinite(scores)] = torch.finfo(torch.float32).min
        blocked = mask_matrix(n_items, histories, exclude_seen, exclude, candidates)
        scores[torch.from_numpy(blocked)] = -torch.inf
        k_eff = min(k, n_items)
        top_scores, top_idx = torch.topk(scores, k_eff, dim=1)  # [B, k']
        top_idx[torch.isneginf(top_scores)] = -1
        return top_idx.numpy().astype(np.int64), top_scores.numpy().astype(np.float64)


def mask_matrix(
    n_items: int,
    histories: Sequence[np.ndarray],
    exclude_seen: bool,
    exclude: Sequence[np.ndarray] | None,
    candidates: np.ndarray | None,
) -> np.ndarray:
    """Boolean [B, N], True where an item must not be recommended."""
    blocked = np.zeros((len(histories), n_items), dtype=bool)
    for row, hist in enumerate(histories):
        if exclude_seen and len(hist):
            blocked[row, hist] = True
        if exclude is not None and len(exclude[row]):
            blocked[row, exclude[row]] = True
    if candidates is not None:
        blocked |= ~np.asarray(candidates, dtype=bool)[None, :]
    return blocked
