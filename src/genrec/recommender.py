"""The one model interface: ``fit``, ``recommend``, ``save``, ``load``.

Every recommender, baseline or generative, implements ``_fit`` and ``_top_k`` (a batch of
:class:`TopKQuery`: histories, requests, and the allowed items as a mask); this class builds that
mask once from the seen, excluded and candidate items, and turns the result into ``recommend``
with external ids, titles and scores. It also handles what every saved model shares (catalog,
user histories, config). Loading a folder whose kind is not known in advance is
:func:`genrec.load` (the model registry), which dispatches to the right class's ``load``.
"""

from __future__ import annotations

import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self, TypedDict, Unpack

import numpy as np
import pandas as pd
import torch

from genrec.data.schema import Catalog, Dataset
from genrec.data.split import SequenceSplit, leave_one_out
from genrec.evaluation import validation_ndcg
from genrec.indexing import TextEncoder, shared_encoder
from genrec.minilm import encode_english, process_reader
from genrec.render import render_sentence
from genrec.requests import CatalogTerms, Nouns
from genrec.requests.applied import apply_requests
from genrec.requests.language import language_of
from genrec.requests.parse import ParsedRequest, RequestParser

FORMAT_VERSION = 1
META_FILE = "genrec.json"
# What a training harness passes to ``fit``: a score of the model as it is (higher is better),
# for early stopping and checkpoint choice; see :func:`genrec.evaluation.validation_ndcg`.
Validate = Callable[["Recommender"], float]


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
    understood: list[dict[str, object]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "items": [r.to_dict() for r in self.items],
            "text": self.text,
            "understood": self.understood,
        }


@dataclass(frozen=True)
class TopKQuery:
    """What a model ranks for: a batch of histories (catalog indices) and request texts, how
    many items, and which items each row may get (``allowed`` [B, N] bool; None: all)."""

    histories: Sequence[np.ndarray]
    k: int  # at most the catalog's size
    allowed: np.ndarray | None
    requests: Sequence[str] | None  # models that do not read text ignore them
    # Log-weights [B, N] to add to log-probability scores: the categories requests lean to
    # without naming them (genrec.requests.leaning); None: none. Only models whose
    # leaning_strength() is positive get one.
    leaning: np.ndarray | None = None


class RecommendOptions(TypedDict, total=False):
    """The options of :meth:`Recommender.recommend` after user, history and k."""

    exclude: Sequence[object]
    exclude_seen: bool
    request: str | None
    categories: Sequence[str] | None


def read_model_meta(path: str | Path) -> dict[str, Any]:
    """The ``genrec.json`` of a saved model folder, checked for a format this genrec reads."""
    src = Path(path)
    meta_path = src / META_FILE
    if not meta_path.is_file():
        raise ModelDirError(f"{src} is not a genrec model directory (no {META_FILE})")
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError as exc:
        raise ModelDirError(f"{meta_path} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        found = meta.get("format_version") if isinstance(meta, dict) else None
        raise ModelDirError(
            f"{src}: model format {found} is not supported (this genrec reads format "
            f"{FORMAT_VERSION})"
        )
    if not isinstance(meta.get("model"), str):
        raise ModelDirError(f"{meta_path} names no model kind")
    return meta


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
        self._parser: RequestParser | None = None

    # ----------------------------------------------------------------- training
    def fit(
        self,
        dataset: Dataset,
        split: SequenceSplit | None = None,
        *,
        seed: int = 0,
        progress: bool = False,
        validate: Validate | None = None,
    ) -> Self:
        """Train on the split's training part; models that stop early call ``validate(self)``
        (higher is better). By default that is NDCG@10 on the split's validation items; a
        training harness may pass its own.

        The user histories kept for ``recommend(user=...)`` are the dataset's full sequences.
        """
        self.catalog = dataset.catalog
        self.histories = dataset.sequences()
        split = split if split is not None else leave_one_out(dataset)
        if validate is None:
            validate = validation_ndcg(split, exclude_seen=self.validation_excludes_seen)
        self._parser = None
        nouns = self._dataset_nouns(dataset).to_dict()
        self.fit_info = {"nouns": nouns}  # _fit may read self.nouns, then replaces fit_info
        self._fit(split, seed=seed, progress=progress, validate=validate)
        self.fit_info["dataset"] = dataset.name
        self.fit_info["nouns"] = nouns
        return self

    @property
    def validation_excludes_seen(self) -> bool:
        """Whether the default validation removes history items from the candidates: the
        config's ``valid_exclude_seen`` where it has one (models that stop early), else yes."""
        return bool(getattr(self.config, "valid_exclude_seen", True))

    @abstractmethod
    def _fit(
        self, split: SequenceSplit, *, seed: int, progress: bool, validate: Validate
    ) -> None: ...

    # ---------------------------------------------------------------- inference
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
        n_items = len(self.require_catalog())
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        allowed = None
        if exclude_seen or exclude is not None or candidates is not None:
            allowed = ~blocked_items(n_items, histories, exclude_seen, exclude, candidates)
        leaning = None
        if requests is not None and any(r for r in requests):
            applied = apply_requests(
                self.request_parser(),
                histories,
                allowed,
                requests,
                self.leaning_strength(),
                soft_only_when_named=self.conditioning_needs_a_category(),
            )
            histories, allowed, requests = applied.histories, applied.allowed, applied.soft_texts
            leaning = applied.leaning
        return self._top_k(TopKQuery(histories, min(k, n_items), allowed, requests, leaning))

    def conditioning_needs_a_category(self) -> bool:
        """Whether the model's learned request conditioning should read only requests that
        name a category (see :func:`genrec.requests.applied.apply_requests`)."""
        return False

    def leaning_strength(self) -> float:
        """How strongly this model ranks by the categories a request leans to (0: not at all;
        models whose scores are not log-probabilities keep 0)."""
        return 0.0

    def _dataset_nouns(self, dataset: Dataset) -> Nouns:
        """The dataset's noun where it names one, else the one its item texts suggest."""
        nouns = Nouns.parse(dataset.noun) if dataset.noun else None
        if nouns is not None:
            return nouns
        from genrec.requests.terms import infer_nouns

        texts = [dataset.catalog.text(i) for i in range(len(dataset.catalog))]
        return infer_nouns(texts, self.text_encoder().encode_requests)

    def understand(self, requests: Sequence[str | None]) -> list[ParsedRequest]:
        """The hard constraints each request states (see :mod:`genrec.requests.parse`)."""
        return self.request_parser().parse_many(list(requests))

    def request_parser(self) -> RequestParser:
        """The parser of requests against this model's catalog (built once)."""
        if self._parser is None:
            catalog = self.require_catalog()
            counts = np.zeros(len(catalog), dtype=np.int64)
            for seq in self.histories.values():
                np.add.at(counts, seq, 1)
            terms = CatalogTerms.from_items(catalog.items, self.nouns)
            encode = self.text_encoder().encode_requests
            english = encode_english if process_reader() else None
            self._parser = RequestParser(  # a model with an encoder of its own reads the text
                terms, catalog.titles, encode, counts, leaning=self.leaning_strength() > 0,
                reads_text=getattr(self, "encoder", None) is not None, english=english,
            )  # fmt: skip
        return self._parser

    @property
    def nouns(self) -> Nouns:
        """What the catalog's items are called: the dataset's noun, else the one inferred."""
        recorded = self.fit_info.get("nouns")
        if isinstance(recorded, dict):
            return Nouns.parse(recorded) or Nouns()
        if self.fit_info.get("dataset") == "ml-100k":  # models saved before nouns were
            return Nouns("movies", "电影", "movie")
        return Nouns()

    def text_encoder(self) -> TextEncoder:
        """The multilingual encoder for request texts: the model's own where it has one."""
        own = getattr(self, "encoder", None)
        return own if own is not None else shared_encoder()

    @abstractmethod
    def _top_k(self, query: TopKQuery) -> tuple[np.ndarray, np.ndarray]:
        """Top-k indices and scores per row among its allowed items, as
        :meth:`recommend_indices` returns them."""

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
        catalog = self.require_catalog()
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
        **options: Unpack[RecommendOptions],
    ) -> RecommendationList:
        """:meth:`recommend` (the same arguments) plus a sentence in the request's language
        naming the items."""
        items = self.recommend(user, history, k, **options)
        request = options.get("request") or ""
        parsed = self.understand([request])[0]
        titles = [r.title for r in items]
        phrase = parsed.describe(language_of(request), self.nouns) if parsed.constraints else None
        text = render_sentence(titles, request, self.nouns, phrase)
        return RecommendationList(items, text, parsed.to_list())

    def require_catalog(self) -> Catalog:
        """The catalog, or a clear error when the model is neither fitted nor loaded."""
        if self.catalog is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() or load()")
        return self.catalog

    # -------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write the model to a directory: ``genrec.json``, catalog, histories, weights."""
        catalog = self.require_catalog()
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
        # The user's own item vectors live in the model's weights, not twice in the catalog.
        vectors_column = getattr(self.config, "vectors_column", "")
        items = catalog.items.drop(columns=[vectors_column], errors="ignore")
        items["categories"] = items["categories"].map(list)
        items.to_parquet(out / "catalog.parquet", index=False)
        users = list(self.histories)
        pd.DataFrame(
            {"user_id": users, "items": [self.histories[u].tolist() for u in users]}
        ).to_parquet(out / "histories.parquet", index=False)
        self._save_state(out)
        (out / META_FILE).write_text(json.dumps(meta, indent=2, default=str) + "\n")
        return out

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Load a saved model of this class. :func:`genrec.load` loads a folder of any kind."""
        if inspect.isabstract(cls):
            raise TypeError(
                f"{cls.__name__} is abstract: genrec.load(path) loads a saved model of any kind"
            )
        src = Path(path)
        meta = read_model_meta(src)
        if meta["model"] != cls.kind:
            raise ModelDirError(f"{src} holds a '{meta['model']}' model, not {cls.__name__}")
        try:
            model = cls(cls.config_class(**{**cls.saved_config_defaults, **meta["config"]}))
        except TypeError as exc:  # a setting this genrec does not know
            raise ModelDirError(
                f"{src}: the saved config does not fit {cls.__name__}: {exc}"
            ) from None
        items = pd.read_parquet(src / "catalog.parquet")
        items["categories"] = items["categories"].map(tuple)
        model.catalog = Catalog(items, keep_order=True)
        hist = pd.read_parquet(src / "histories.parquet")
        model.histories = {
            str(u): np.asarray(s, dtype=np.int64)
            for u, s in zip(hist["user_id"], hist["items"], strict=True)
        }
        model.fit_info = dict(meta.get("fit_info", {}))
        model._parser = None
        model._load_state(src)
        return model

    def _save_state(self, path: Path) -> None:  # noqa: B027 - optional hook
        """Write model-specific state (weights, tables). Default: nothing beyond the config."""

    def _load_state(self, path: Path) -> None:  # noqa: B027 - optional hook
        """Read what ``_save_state`` wrote."""


class ScoringRecommender(Recommender):
    """A model that scores every catalog item; masking and top-k are shared here."""

    @abstractmethod
    def score(self, histories: Sequence[np.ndarray]) -> torch.Tensor:
        """Scores [B, N] for every catalog item (higher is better)."""

    def _top_k(self, query: TopKQuery) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            scores = self.score(query.histories).to(torch.float32).clone()  # [B, N]
        scores[~torch.isfinite(scores)] = torch.finfo(torch.float32).min
        if query.allowed is not None:
            scores[~torch.from_numpy(query.allowed)] = -torch.inf
        top_scores, top_idx = torch.topk(scores, query.k, dim=1)  # [B, k]
        top_idx[torch.isneginf(top_scores)] = -1
        return top_idx.numpy().astype(np.int64), top_scores.numpy().astype(np.float64)


def blocked_items(
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
