"""The serving core, free of HTTP: the model in memory, hot swap, batched answers.

Which model folder or version to serve is :func:`genrec.lifecycle.resolve_model_dir`'s choice.
:class:`ModelHolder` keeps the model in use and swaps in a newer version atomically: a batch that
started on the old model finishes on it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genrec.lifecycle import model_version, resolve_model_dir
from genrec.models import load as load_model
from genrec.recommender import Recommendation, Recommender
from genrec.render import render_sentence
from genrec.requests.language import language_of
from genrec.requests.parse import ParsedRequest


@dataclass(frozen=True)
class Query:
    """One recommendation request, as the HTTP layer validated it."""

    user_id: str | None = None
    history: Sequence[str] | None = None
    request: str = ""
    k: int = 10
    exclude: Sequence[str] = ()
    categories: Sequence[str] | None = None
    exclude_seen: bool = True


@dataclass(frozen=True)
class Answer:
    items: list[Recommendation]
    text: str
    fallback: bool
    warnings: list[str]
    history: list[str]
    model_version: str
    understood: list[dict[str, object]] = field(default_factory=list)
    arm: str | None = None  # the A/B arm that answered, if a test is running


@dataclass
class LoadedModel:
    """One model version in memory, with what serving derives from it."""

    model: Recommender
    version: str
    path: Path
    loaded_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        catalog = self.model.require_catalog()
        self.catalog = catalog
        self.categories = [tuple(str(c) for c in cats) for cats in catalog.categories]
        counts = np.zeros(len(catalog), dtype=np.int64)
        for seq in self.model.histories.values():
            np.add.at(counts, seq, 1)
        self.popularity = counts
        self.popular_order = np.argsort(-counts, kind="stable")
        self.nouns = self.model.nouns
        # Plain lists: a pandas lookup per returned item cost half the time of a batch.
        self.titles = [str(t) for t in catalog.items["title"]]
        self.item_ids = [str(i) for i in catalog.item_ids]
        self.titles_lower = [t.lower() for t in self.titles]

    @classmethod
    def load(cls, root: str | Path) -> LoadedModel:
        path = resolve_model_dir(root)
        version = model_version(path)
        return cls(load_model(path), version, path)

    # ------------------------------------------------------------------- answers
    def answer(self, queries: Sequence[Query]) -> list[Answer]:
        """Answer a batch: rows sharing a category filter are decoded together."""
        catalog = self.model.require_catalog()
        prepared = [self._prepare(q) for q in queries]
        understood = self.model.understand([q.request for q in queries])
        results: list[Answer | None] = [None] * len(queries)
        groups: dict[tuple[str, ...] | None, list[int]] = {}
        for row, (query, prep) in enumerate(zip(queries, prepared, strict=True)):
            if prep.fallback:
                results[row] = self._popular(query, prep)
                continue
            key = tuple(sorted(query.categories)) if query.categories else None
            groups.setdefault(key, []).append(row)
        for key, rows in groups.items():
            mask = catalog.category_mask(list(key)) if key else None
            k = max(queries[r].k for r in rows)
            # Seen items are excluded per row (rows may differ in exclude_seen).
            idx, scores = self.model.recommend_indices(
                [prepared[r].history for r in rows],
                k,
                exclude_seen=False,
                exclude=[prepared[r].blocked(queries[r].exclude_seen) for r in rows],
                candidates=mask,
                requests=[queries[r].request for r in rows],
            )
            for pos, row in enumerate(rows):
                wanted = queries[row].k
                picked = [(int(i), float(s)) for i, s in zip(idx[pos], scores[pos], strict=True)]
                results[row] = self._finish(
                    queries[row], prepared[row], picked[:wanted], False, understood[row]
                )
        return [r for r in results if r is not None]

    def _prepare(self, query: Query) -> _Prepared:
        catalog = self.model.require_catalog()
        warnings: list[str] = []
        if query.history is not None:
            found, unknown = catalog.known(query.history)
            if unknown:
                shown = ", ".join(f"'{u}'" for u in unknown[:10])
                more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
                warnings.append(f"history items not in the catalog were ignored: {shown}{more}")
            history = np.asarray(found, dtype=np.int64)
        elif query.user_id is not None and str(query.user_id) in self.model.histories:
            history = self.model.histories[str(query.user_id)]
        else:
            if query.user_id is not None:
                warnings.append(f"user '{query.user_id}' is unknown to this model")
            history = np.zeros(0, dtype=np.int64)
        excluded, unknown_ex = catalog.known(query.exclude)
        if unknown_ex:
            warnings.append(
                "exclude items not in the catalog were ignored: "
                + ", ".join(f"'{u}'" for u in unknown_ex[:10])
            )
        fallback = len(history) == 0 and not query.request.strip()
        return _Prepared(history, np.asarray(excluded, dtype=np.int64), warnings, fallback)

    def _popular(self, query: Query, prep: _Prepared) -> Answer:
        catalog = self.model.require_catalog()
        allowed = np.ones(len(catalog), dtype=bool)
        allowed[prep.blocked(query.exclude_seen)] = False
        if query.categories:
            allowed &= catalog.category_mask(list(query.categories))
        order = self.popular_order[allowed[self.popular_order]][: query.k]
        total = max(int(self.popularity.sum()), 1)
        picked = [(int(i), float(self.popularity[i]) / total) for i in order]
        warnings = [*prep.warnings, "no history and no request: most popular items"]
        return self._finish(query, _Prepared(prep.history, prep.exclude, warnings, True), picked)

    def _finish(
        self,
        query: Query,
        prep: _Prepared,
        picked: list[tuple[int, float]],
        fallback: bool = True,
        parsed: ParsedRequest | None = None,
    ) -> Answer:
        items = [Recommendation(self.item_ids[i], self.titles[i], s) for i, s in picked if i >= 0]
        phrase = None
        if parsed is not None and parsed.constraints:
            phrase = parsed.describe(language_of(query.request), self.nouns)
        text = render_sentence([r.title for r in items], query.request, self.nouns, phrase)
        history = [self.item_ids[i] for i in prep.history.tolist()]
        understood = parsed.to_list() if parsed is not None else []
        return Answer(items, text, fallback, prep.warnings, history, self.version, understood)

    # ------------------------------------------------------------------ catalog
    def search(self, text: str, limit: int) -> list[int]:
        """Catalog indices whose title contains ``text`` (case-insensitive): titles starting
        with it first, then the rest, each by popularity."""
        needle = text.strip().lower()
        if not needle:
            return [int(i) for i in self.popular_order[:limit]]
        starts: list[int] = []
        contains: list[int] = []
        for i in self.popular_order:
            title = self.titles_lower[i]
            pos = title.find(needle)
            if pos == 0:
                starts.append(int(i))
                if len(starts) >= limit:
                    break
            elif pos > 0 and len(contains) < limit:
                contains.append(int(i))
        return (starts + contains)[:limit]


@dataclass(frozen=True)
class _Prepared:
    history: np.ndarray
    exclude: np.ndarray
    warnings: list[str]
    fallback: bool

    def blocked(self, exclude_seen: bool) -> np.ndarray:
        """Items this row must not get: its excludes, plus its history unless seen is allowed."""
        return np.concatenate([self.exclude, self.history]) if exclude_seen else self.exclude


class ModelHolder:
    """The model in use, and an atomic swap to a newer version."""

    def __init__(self, root: str | Path, loaded: LoadedModel | None = None) -> None:
        self.root = Path(root)
        self._current = loaded
        self._reload_lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self._current is not None

    @property
    def current(self) -> LoadedModel:
        loaded = self._current
        if loaded is None:
            raise ModelNotReadyError("the model is still loading")
        return loaded

    def load(self) -> LoadedModel:
        """Load the newest version (first start); the holder is ready once it is warmed up."""
        self.reload(force=True)
        return self.current

    def reload(self, force: bool = False) -> tuple[bool, str, str | None]:
        """Swap in the newest version if it differs from the one in use.

        Returns (swapped, version now in use, version before). A failed load leaves the current
        model in place and raises.
        """
        with self._reload_lock:
            before = self._current.version if self._current is not None else None
            path = resolve_model_dir(self.root)
            version = model_version(path)
            if version == before and not force:
                return False, version, before
            fresh = LoadedModel(load_model(path), version, path)
            warm_up(fresh)
            self._current = fresh  # one reference assignment: atomic for readers
            return True, version, before


class ModelNotReadyError(RuntimeError):
    """The service is up but the model has not finished loading."""


def warm_up(loaded: LoadedModel) -> None:
    """Run one tiny batch so that lazy parts (text encoder, kernels) load before traffic."""
    loaded.answer([Query(request="warm up", k=1), Query(user_id=None, history=[], k=1)])
