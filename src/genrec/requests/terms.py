"""What a catalog lets a request name: category terms of any depth, numeric columns, item years,
and the catalog's noun ("movies", "products", "courses").

Nothing here knows a domain. Category paths are split into their levels ("Electronics > Laptops"
names both "Electronics" and "Laptops"), numeric columns are found by content, and a year comes
from a date-like column. The noun is given by the user or inferred from the item texts through
the multilingual encoder's shared space (see :func:`infer_nouns`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import inflect
import numpy as np
import pandas as pd

_LEVELS = re.compile(r"\s*(?:>|›|»|/|::|\\)\s*")
_YEAR = re.compile(r"(?<!\d)(1[6-9]\d\d|20\d\d)(?!\d)")
_SKIP_COLUMNS = {"item_id", "title", "categories", "description", "item_index"}
_DATE_NAMES = re.compile(r"year|date|release|publish|launch|founded|aired|上市|年份|日期", re.I)
_PRICE_NAMES = re.compile(r"price|cost|amount|fee|msrp|usd|eur|价格|售价|价", re.I)
_DURATION_NAMES = re.compile(r"duration|length|runtime|minutes|mins|hours|时长|分钟", re.I)


@dataclass(frozen=True)
class Nouns:
    """What the catalog's items are called: English plural, Chinese, English singular."""

    en: str = "items"
    zh: str = "商品"
    one: str = "item"

    def to_dict(self) -> dict[str, str]:
        return {"en": self.en, "zh": self.zh, "one": self.one}

    @classmethod
    def parse(cls, value: str | dict[str, str] | Nouns | None) -> Nouns | None:
        """``"movies/电影"``, ``"products"``, a dict like :meth:`to_dict`, or None."""
        if value is None or isinstance(value, Nouns):
            return value
        if isinstance(value, dict):
            en = str(value.get("en", "items"))
            return cls(en, str(value.get("zh", "商品")), str(value.get("one", singular_of(en))))
        parts = [p.strip() for p in str(value).split("/") if p.strip()]
        if not parts:
            raise ValueError("a noun needs at least an English plural, like 'products/商品'")
        en = parts[0]
        zh = parts[1] if len(parts) > 1 else _GENERIC_ZH.get(en.lower(), "商品")
        return cls(en, zh, singular_of(en))


@functools.lru_cache(maxsize=1)
def _english() -> inflect.engine:
    return inflect.engine()


def singular_of(plural: str) -> str:
    """The singular of an English plural noun ("movies" -> "movie", "series" -> "series",
    "video games" -> "video game"), by ``inflect``; a word it does not read as a plural is kept.
    The catalog's noun goes into the training requests ("I want a Comedy movie")."""
    word = plural.strip()
    one = _english().singular_noun(word) if word else False
    return one if isinstance(one, str) and one else word


# General words for what catalogs hold (a language table, not a dataset's): the noun a catalog
# is inferred to use, with its Chinese. The last one is the fallback.
GENERIC_NOUNS: tuple[Nouns, ...] = (
    Nouns("movies", "电影", "movie"),
    Nouns("products", "商品", "product"),
    Nouns("courses", "课程", "course"),
    Nouns("games", "游戏", "game"),
    Nouns("books", "书", "book"),
    Nouns("songs", "歌曲", "song"),
    Nouns("videos", "视频", "video"),
    Nouns("articles", "文章", "article"),
    Nouns("restaurants", "餐厅", "restaurant"),
    Nouns("apps", "应用", "app"),
    Nouns("items", "商品", "item"),
)
_GENERIC_ZH = {n.en: n.zh for n in GENERIC_NOUNS}


def _singular(word: str) -> str:
    w = word.strip()
    low = w.lower()
    if low.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if low.endswith(("ches", "shes", "sses", "xes")):
        return w[:-2]
    if low.endswith("s") and not low.endswith("ss") and len(w) > 3:
        return w[:-1]
    return w


def term_forms(term: str) -> set[str]:
    """Lower-case spellings a request may use for a category term: as is, singular, plural."""
    low = term.lower().strip()
    forms = {low, _singular(low)}
    if not low.endswith("s"):
        forms.add(low + "s")
    return {f for f in forms if f}


def category_levels(name: str) -> list[str]:
    """A category path's levels: 'Electronics > Laptops' -> ['Electronics', 'Laptops']."""
    return [p for p in (s.strip() for s in _LEVELS.split(name)) if p]


@dataclass
class NumericColumn:
    name: str
    kind: str  # "price", "duration" or "number"
    values: np.ndarray  # float [N], NaN where the item has none

    def quantile(self, q: float) -> float:
        return float(np.nanquantile(self.values, q))


@dataclass
class CatalogTerms:
    """A catalog's request vocabulary, per item index."""

    categories: list[tuple[str, ...]]  # every level of every category path, per item
    numeric: dict[str, NumericColumn] = field(default_factory=dict)
    years: np.ndarray | None = None  # float [N], NaN where unknown
    nouns: Nouns = field(default_factory=Nouns)
    # term -> its items, built by category_mask on first use (not part of what the terms are)
    _members: dict[str, np.ndarray] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @classmethod
    def from_items(cls, items: pd.DataFrame, nouns: Nouns | None = None) -> CatalogTerms:
        cats = [
            tuple(dict.fromkeys(level for c in row for level in category_levels(str(c))))
            for row in items["categories"]
        ]
        numeric: dict[str, NumericColumn] = {}
        years: np.ndarray | None = None
        for column in items.columns:
            if column in _SKIP_COLUMNS or column.lower().endswith("_id"):
                continue
            values = items[column]
            if _DATE_NAMES.search(column):
                found = _years(values)
                if found is not None and years is None:
                    years = found
                    continue
            number = _numbers(values)
            if number is not None:
                kind = (
                    "price"
                    if _PRICE_NAMES.search(column)
                    else "duration"
                    if _DURATION_NAMES.search(column)
                    else "number"
                )
                numeric[column] = NumericColumn(column, kind, number)
        return cls(cats, numeric, years, nouns or Nouns())

    @property
    def names(self) -> list[str]:
        """Every distinct category term, most items first."""
        counts: dict[str, int] = {}
        for cats in self.categories:
            for c in cats:
                counts[c] = counts.get(c, 0) + 1
        return sorted(counts, key=lambda c: (-counts[c], c))

    def category_mask(self, names: Sequence[str]) -> np.ndarray:
        """Items [N] with any of the terms (case-insensitive) at some level of a category."""
        if self._members is None:  # built once: a request then costs a gather
            members: dict[str, list[int]] = {}
            for item, cats in enumerate(self.categories):
                for c in {c.lower() for c in cats}:
                    members.setdefault(c, []).append(item)
            self._members = {c: np.asarray(i, dtype=np.int64) for c, i in members.items()}
        out = np.zeros(len(self.categories), dtype=bool)
        for name in {n.lower() for n in names}:
            found = self._members.get(name)
            if found is not None:
                out[found] = True
        return out

    def column_for(self, unit: str | None) -> NumericColumn | None:
        """The numeric column a bound with this unit refers to ("price", "duration", None)."""
        if not self.numeric:
            return None
        by_kind = [c for c in self.numeric.values() if c.kind == unit] if unit else []
        if by_kind:
            return by_kind[0]
        if unit is None:
            prices = [c for c in self.numeric.values() if c.kind == "price"]
            if prices:
                return prices[0]
            if len(self.numeric) == 1:
                return next(iter(self.numeric.values()))
        return None


def _numbers(values: pd.Series) -> np.ndarray | None:
    """The column as floats when at least 80% of its non-empty cells are numbers."""
    if values.dtype == bool:
        return None
    if pd.api.types.is_numeric_dtype(values):
        out = values.to_numpy(dtype=np.float64)
    else:
        text = values.astype(str).str.replace(r"[,$€£¥\s]", "", regex=True)
        filled = text[text != ""]
        if len(filled) == 0:
            return None
        parsed = pd.to_numeric(text, errors="coerce")
        if parsed[text != ""].notna().mean() < 0.8:
            return None
        out = parsed.to_numpy(dtype=np.float64)
    if np.isfinite(out).sum() == 0 or np.nanmin(out) == np.nanmax(out):
        return None
    return out


def _years(values: pd.Series) -> np.ndarray | None:
    """Years from a date-like column (a year, an ISO date, '01-Jan-1995'), when most have one."""
    if pd.api.types.is_numeric_dtype(values):
        out = values.to_numpy(dtype=np.float64)
        ok = (out >= 1600) & (out <= 2100)
        return np.where(ok, out, np.nan) if ok.mean() >= 0.5 else None
    found = [_YEAR.search(str(v)) for v in values]
    out = np.array([float(m.group(1)) if m else np.nan for m in found])
    return out if np.isfinite(out).mean() >= 0.5 else None


def infer_nouns(
    texts: Sequence[str], encode: Callable[[list[str]], np.ndarray], sample: int = 64
) -> Nouns:
    """The generic noun whose vector is nearest to most item texts (a vote over a sample).

    ``encode`` embeds texts as requests (queries); items are compared with "a <noun>" in the
    shared space. Ties and empty catalogs give "items".
    """
    if not texts:
        return GENERIC_NOUNS[-1]
    step = max(1, len(texts) // sample)
    picked = [str(t) for t in texts[::step][:sample]]
    nouns = GENERIC_NOUNS[:-1]
    proto = encode([f"a {n.one}" for n in nouns])
    items = encode(picked)
    sims = items @ proto.T
    votes = np.bincount(sims.argmax(axis=1), minlength=len(nouns))
    best = int(votes.argmax())
    return nouns[best] if votes[best] >= 0.4 * len(picked) else GENERIC_NOUNS[-1]
