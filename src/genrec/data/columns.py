"""Which column of a user's file holds which of our fields.

Files come from many exports (RecBole atomic files, Amazon reviews, MovieLens, shop dumps), so a
field is inferred from the usual spellings of its name, ignoring case, punctuation and RecBole's
``:type`` suffix. The user's ``columns`` mapping overrides that, for one file or for all of them;
columns no field took are kept as extras rather than thrown away.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from genrec.data.schema import DataError

_SPELLINGS: dict[str, tuple[str, ...]] = {
    "user_id": ("user_id", "user", "userId", "uid", "customer_id", "customer", "visitor_id",
                "visitor", "reviewerID", "client_id"),
    "item_id": ("item_id", "item", "itemId", "iid", "movie_id", "movieId", "product_id",
                "productId", "asin", "parent_asin", "sku"),
    "timestamp": ("timestamp", "time", "ts", "datetime", "date", "event_time", "created_at",
                  "unixReviewTime"),
    "rating": ("rating", "score", "stars", "overall"),
    "request": ("request", "user_input", "query", "text", "prompt", "user_request", "question",
                "instruction"),
    "title": ("title", "name", "movie_title", "product_name", "item_name"),
    "categories": ("categories", "category", "genres", "genre", "tags", "class"),
    "description": ("description", "desc", "summary", "overview", "plot"),
    "history": ("history", "purchase_history", "purchases", "past_purchases",
                "previous_purchases", "item_history", "history_items", "past_items",
                "previous_items", "items", "sequence"),
    "target": ("target", "targets", "bought", "purchased", "recommended", "next_item",
               "recommendation", "recommendations", "label", "item_id", "item", "product_id",
               "asin"),
}  # fmt: skip

# Per kind of file: (field, required), in the order they are resolved.
_KIND_FIELDS: dict[str, tuple[tuple[str, bool], ...]] = {
    "interactions": (("user_id", True), ("item_id", True), ("timestamp", False),
                     ("rating", False), ("request", False)),
    "catalog": (("item_id", True), ("title", False), ("categories", False),
                ("description", False)),
    "users": (("user_id", True),),
    "seed": (("user_id", False), ("timestamp", False), ("request", False), ("target", True),
             ("history", True)),
}  # fmt: skip
_RECBOLE_TYPES = ("token_seq", "float_seq", "token", "float")


def strip_type(name: str) -> tuple[str, str | None]:
    """``user_id:token`` -> (``user_id``, ``token``): RecBole headers carry the field type."""
    base, colon, kind = name.rpartition(":")
    if colon and base.strip() and kind.strip().lower() in _RECBOLE_TYPES:
        return base.strip(), kind.strip().lower()
    return name.strip(), None


def _key(name: str) -> str:
    """Spelling-insensitive key: ``User ID``, ``user_id``, ``userId`` all become ``userid``."""
    return re.sub(r"[^0-9a-z]", "", strip_type(name)[0].lower())


def _fields(kind: str) -> list[str]:
    return [name for name, _ in _KIND_FIELDS[kind]]


class ColumnSpec:
    """The user's ``columns`` mapping, checked once and applied to each file kind it names.

    A plain key (``item_id``) applies to every file read in the call that has that field; a
    prefixed key (``catalog.item_id``) to one file only and wins over the plain one, for when
    the files spell the same field differently.
    """

    def __init__(self, columns: Mapping[str, str] | None, kinds: Sequence[str]) -> None:
        self._given: dict[tuple[str, str], str] = {}
        entries = sorted((columns or {}).items(), key=lambda kv: "." in kv[0])
        for key, column in entries:
            for kind, name in self._targets(key, kinds):
                self._given[(kind, name)] = str(column)

    @staticmethod
    def _targets(key: str, kinds: Sequence[str]) -> list[tuple[str, str]]:
        kind, dot, name = key.rpartition(".")
        if dot:
            targets = [(kind, name)] if kind in kinds and name in _fields(kind) else []
        else:
            targets = [(k, name) for k in kinds if name in _fields(k)]
        if not targets:
            plain = sorted({f for k in kinds for f in _fields(k)})
            prefixed = [f"{k}.{f}" for k in kinds for f in _fields(k)]
            raise DataError(
                f"unknown key '{key}' in columns; valid keys here: {', '.join(plain)} "
                f"(or per file: {', '.join(prefixed)})"
            )
        return targets

    def resolve(self, frame: pd.DataFrame, kind: str, file: str) -> dict[str, str]:
        """Our field -> the file's column, given ones first, then inferred from spellings."""
        columns = [str(c) for c in frame.columns]
        found: dict[str, str] = {}
        for name in _fields(kind):
            given = self._given.get((kind, name))
            if given is not None:
                found[name] = _find_given(given, name, columns, file)
        for name, required in _KIND_FIELDS[kind]:
            if name in found:
                continue
            column = _infer(name, columns, set(found.values()))
            if column is not None:
                found[name] = column
            elif required:
                raise DataError(
                    f"required column is missing: looked for {', '.join(_SPELLINGS[name])} "
                    f"(any case; a RecBole ':type' suffix is fine); the file's columns are: "
                    f"{', '.join(columns)}; name yours with columns={{'{name}': '<column>'}}",
                    file=file,
                    column=name,
                )
        return found


def _find_given(given: str, name: str, columns: list[str], file: str) -> str:
    for matches in (
        lambda c: c == given,
        lambda c: strip_type(c)[0] == given,
        lambda c: strip_type(c)[0].lower() == given.lower(),
    ):
        hits = [c for c in columns if matches(c)]
        if hits:
            return hits[0]
    raise DataError(
        f"the column given for {name} is not in the file; its columns are: {', '.join(columns)}",
        file=file,
        column=given,
    )


def _infer(name: str, columns: list[str], used: set[str]) -> str | None:
    keys = {column: _key(column) for column in columns if column not in used}
    for spelling in _SPELLINGS[name]:
        wanted = _key(spelling)
        for column, key in keys.items():
            if key == wanted:
                return column
    return None


def extras(frame: pd.DataFrame, used: Iterable[str], reserved: set[str]) -> dict[str, pd.Series]:
    """Columns no field took, kept as they are (type suffix stripped, never shadowing a field)."""
    taken = set(used)
    out: dict[str, pd.Series] = {}
    for column in frame.columns:
        if column in taken:
            continue
        name = strip_type(str(column))[0]
        while name in reserved or name in out:
            name = f"{name}_original"
        out[name] = frame[column].reset_index(drop=True)
    return out
