"""Readers for users' own files: interaction logs, item catalogs, user attributes, seed sessions.

Every reader ends in the same validated :class:`Dataset`, so models never see raw files. Problems
in the data are either errors (strict mode, the default: a bad file should stop a run before any
training) or counted warnings with the offending rows dropped (lenient mode), so messy exports
can still be used, knowingly. Messages name the file, the 1-based data row (header not counted)
and the file's column, because that is what a user needs to go and fix the file.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genrec.data.filters import filter_interactions
from genrec.data.schema import Catalog, DataError, DataIssue, Dataset, ValidationReport
from genrec.data.tables import read_table

# --------------------------------------------------------------------------------------------
# Columns: our field names, the spellings they are inferred from, and user overrides

_SPELLINGS: dict[str, tuple[str, ...]] = {
    "user_id": ("user_id", "user", "userId", "uid", "customer_id", "customer", "visitor_id",
                "visitor", "reviewerID", "client_id"),
    "item_id": ("item_id", "item", "itemId", "iid", "movie_id", "movieId", "product_id",
                "productId", "asin", "parent_asin", "sku"),
    "timestamp": ("timestamp", "time", "ts", "datetime", "date", "event_time", "created_at",
                  "unixReviewTime"),
    "rating": ("rating", "score", "stars", "overall"),
    "request": ("request", "query", "text", "prompt", "user_request", "question",
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


def _strip_type(name: str) -> tuple[str, str | None]:
    """``user_id:token`` -> (``user_id``, ``token``): RecBole headers carry the field type."""
    base, colon, kind = name.rpartition(":")
    if colon and base.strip() and kind.strip().lower() in _RECBOLE_TYPES:
        return base.strip(), kind.strip().lower()
    return name.strip(), None


def _key(name: str) -> str:
    """Spelling-insensitive key: ``User ID``, ``user_id``, ``userId`` all become ``userid``."""
    return re.sub(r"[^0-9a-z]", "", _strip_type(name)[0].lower())


def _fields(kind: str) -> list[str]:
    return [name for name, _ in _KIND_FIELDS[kind]]


class _ColumnSpec:
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
        lambda c: _strip_type(c)[0] == given,
        lambda c: _strip_type(c)[0].lower() == given.lower(),
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


def _extras(frame: pd.DataFrame, used: Iterable[str], reserved: set[str]) -> dict[str, pd.Series]:
    """Columns no field took, kept as they are (type suffix stripped, never shadowing a field)."""
    taken = set(used)
    out: dict[str, pd.Series] = {}
    for column in frame.columns:
        if column in taken:
            continue
        name = _strip_type(str(column))[0]
        while name in reserved or name in out:
            name = f"{name}_original"
        out[name] = frame[column].reset_index(drop=True)
    return out


# --------------------------------------------------------------------------------------------
# Cell values


def _cell_text(value: object) -> str:
    """A cell as text: missing -> "", integral floats without ``.0`` (ids read as floats)."""
    if value is None or isinstance(value, str):
        return (value or "").strip()
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        return str(value)
    if pd.isna(value):  # type: ignore[call-overload]
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").strip()
    return str(value).strip()


def _texts(values: pd.Series) -> pd.Series:
    return pd.Series([_cell_text(v) for v in values.tolist()], dtype=object)


def _numbers(texts: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(float values, mask of non-empty cells that are not numbers)."""
    present = (texts != "").to_numpy()
    values = pd.to_numeric(texts.where(texts != ""), errors="coerce").to_numpy(dtype=np.float64)
    return values, present & np.isnan(values)


def _unix_seconds(numbers: np.ndarray) -> np.ndarray:
    """Scale epoch numbers to seconds: beyond 1e11 "seconds" (year 5138) they must be ms etc."""
    magnitude = float(np.median(np.abs(numbers))) if len(numbers) else 0.0
    for threshold, scale in ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3)):
        if magnitude > threshold:
            return numbers / scale
    return numbers


def _parse_timestamps(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(int64 unix seconds, mask of cells that parsed): epoch numbers or date/time strings."""
    texts = _texts(values)
    numbers, not_numeric = _numbers(texts)
    seconds = np.full(len(texts), np.nan)
    numeric = ~np.isnan(numbers)
    seconds[numeric] = _unix_seconds(numbers[numeric])
    if not_numeric.any():
        seconds[not_numeric] = _date_seconds(texts[not_numeric])
    ok = ~np.isnan(seconds)
    return np.floor(np.where(ok, seconds, 0.0)).astype(np.int64), ok


def _date_seconds(texts: pd.Series) -> np.ndarray:
    """Date/time strings -> float unix seconds (NaN when unparsable); naive times are UTC.

    ISO 8601 is parsed in one vectorised pass; only what it misses goes through the slower
    per-value "mixed" parser (``01/31/2024``, ``31 Jan 2024 10:00`` ...).
    """
    parsed = pd.to_datetime(texts, format="ISO8601", utc=True, errors="coerce")
    missed = parsed.isna()
    if missed.any():
        parsed[missed] = pd.to_datetime(texts[missed], format="mixed", utc=True, errors="coerce")
    delta = (parsed - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
    return np.asarray(delta, dtype=np.float64)


_SEPARATORS = ("|", ";", ",")


def _literal_list(text: str) -> list[Any] | None:
    """A JSON or Python list literal, or None when the text is not one."""
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
    return list(value) if isinstance(value, (list, tuple)) else None


def _flatten(values: Iterable[Any]) -> list[str]:
    """Nested lists flattened (Amazon category paths are lists of lists), empty names dropped."""
    out: list[str] = []
    for value in values:
        if isinstance(value, (list, tuple, np.ndarray)):
            out.extend(_flatten(value))
        elif text := _cell_text(value):
            out.append(text)
    return out


def _list_parts(value: object) -> tuple[list[str], str | None] | None:
    """A list cell's raw parts and the separator split on (None when it was a real list).

    Parts split on a separator keep their spacing so titles holding that separator can be
    rejoined against a catalog. Returns None for a malformed list literal like ``["A", "B"``.
    """
    if isinstance(value, (list, tuple, np.ndarray)):
        return _flatten(value), None
    text = _cell_text(value)
    if not text:
        return [], None
    looks_like_list = (text[0] == "[" and text[-1] == "]") or text[:2] in ('["', "['")
    if looks_like_list or (text[0] == "(" and text[-1] == ")"):
        parsed = _literal_list(text)
        if parsed is not None:
            return _flatten(parsed), None
        if looks_like_list:
            return None
    for sep in _SEPARATORS:
        if sep in text:
            return text.split(sep), sep
    return [text], None


def _categories(value: object, whitespace: bool) -> tuple[str, ...]:
    """Category names from a list cell, a list literal, or text split on ``| ; ,``.

    RecBole ``token_seq`` columns separate tokens with spaces, so those also split there.
    """
    parts = _list_parts(value)
    names = [_cell_text(value)] if parts is None else [p.strip() for p in parts[0] if p.strip()]
    if whitespace and (parts is None or parts[1] is None):
        names = [word for name in names for word in name.split()]
    return tuple(dict.fromkeys(names))


# --------------------------------------------------------------------------------------------
# Problems: raise (strict) or count and drop (lenient)


class _Checker:
    """Routes each problem in one file: an error in strict mode, else a counted warning.

    In lenient mode one :class:`DataIssue` per (kind, column) keeps the first offending row and
    the count, and ``keep`` marks the rows that survive.
    """

    def __init__(self, file: str, strict: bool, report: ValidationReport, rows: int) -> None:
        self.file = file
        self.strict = strict
        self.report = report
        self.keep = np.ones(rows, dtype=bool)
        self._issues: dict[tuple[str, str | None], DataIssue] = {}

    def problem(
        self, kind: str, message: str, row: int, column: str | None, count: int = 1
    ) -> None:
        """Report one problem found at 1-based data ``row`` (``count`` rows of its kind)."""
        if self.strict:
            raise DataError(message, file=self.file, row=row, column=column)
        issue = self._issues.get((kind, column))
        if issue is None:
            issue = DataIssue(kind, f"{message}; dropped", 0, self.file, row, column)
            self._issues[(kind, column)] = issue
            self.report.add(issue)
        issue.count += count
        self.keep[row - 1] = False

    def drop(
        self, kind: str, bad: np.ndarray, column: str | None, describe: Callable[[int], str]
    ) -> None:
        """Flag the still-kept rows in mask ``bad``; ``describe(i)`` words the first of them."""
        positions = np.flatnonzero(bad & self.keep)
        if len(positions) == 0:
            return
        first = int(positions[0])
        self.problem(kind, describe(first), first + 1, column, count=len(positions))
        self.keep[positions] = False


# --------------------------------------------------------------------------------------------
# The three files of load_dataset


def _read_catalog(
    path: str | Path, spec: _ColumnSpec, strict: bool, report: ValidationReport
) -> pd.DataFrame:
    """The catalog file as a frame ready for :class:`Catalog` (unique, non-empty item ids)."""
    file = str(path)
    raw = read_table(path)
    cols = spec.resolve(raw, "catalog", file)
    check = _Checker(file, strict, report, len(raw))
    ids = _texts(raw[cols["item_id"]])
    check.drop("empty_id", (ids == "").to_numpy(), cols["item_id"], lambda i: "empty item id")
    _drop_duplicate_ids(check, ids, cols["item_id"], "item")
    titles = _texts(raw[cols["title"]]) if "title" in cols else ids
    titles = titles.where(titles != "", ids)
    whitespace = "categories" in cols and _strip_type(cols["categories"])[1] == "token_seq"
    categories = (
        [_categories(v, whitespace) for v in raw[cols["categories"]].tolist()]
        if "categories" in cols
        else [() for _ in range(len(raw))]
    )
    fields = {
        "item_id": ids,
        "title": titles,
        "categories": pd.Series(categories, dtype=object),
        "description": _texts(raw[cols["description"]]) if "description" in cols else "",
    }
    reserved = {"item_id", "title", "categories", "description"}
    frame = pd.DataFrame({**fields, **_extras(raw, cols.values(), reserved)})
    return frame[check.keep].reset_index(drop=True)


def read_catalog(
    path: str | Path, columns: Mapping[str, str] | None = None, strict: bool = True
) -> pd.DataFrame:
    """An item catalog file on its own (e.g. items added after training), validated like the
    catalog of :func:`load_dataset`: columns item_id, title, categories, description, extras."""
    report = ValidationReport()
    return _read_catalog(path, _ColumnSpec(columns, ["catalog"]), strict, report)


def _constant(message: str) -> Callable[[int], str]:
    return lambda i: message


def _drop_duplicate_ids(check: _Checker, ids: pd.Series, column: str, what: str) -> None:
    """A repeated id is ambiguous: an error, or (lenient) the first row wins."""
    kept = ids[check.keep]
    repeated = kept.duplicated(keep="first")
    bad = np.zeros(len(ids), dtype=bool)
    bad[kept.index[repeated.to_numpy()]] = True

    def describe(i: int) -> str:
        first = int(np.flatnonzero((ids == ids[i]).to_numpy() & check.keep)[0]) + 1
        return f"duplicate {what} id '{ids[i]}' (first at row {first})"

    check.drop("duplicate_id", bad, column, describe)


def _read_users(
    path: str | Path, spec: _ColumnSpec, strict: bool, report: ValidationReport
) -> pd.DataFrame:
    """User attributes: ``user_id`` (str) plus the file's other columns as they are."""
    file = str(path)
    raw = read_table(path)
    cols = spec.resolve(raw, "users", file)
    check = _Checker(file, strict, report, len(raw))
    ids = _texts(raw[cols["user_id"]])
    check.drop("empty_id", (ids == "").to_numpy(), cols["user_id"], lambda i: "empty user id")
    _drop_duplicate_ids(check, ids, cols["user_id"], "user")
    frame = pd.DataFrame({"user_id": ids.astype(str), **_extras(raw, cols.values(), {"user_id"})})
    return frame[check.keep].reset_index(drop=True)


def _read_interactions(
    path: str | Path,
    spec: _ColumnSpec,
    strict: bool,
    report: ValidationReport,
    catalog_file: str | None,
    known: set[str] | None,
) -> pd.DataFrame:
    """The interaction log as user_id, item_id, timestamp, rating, request; bad rows handled."""
    file = str(path)
    raw = read_table(path)
    cols = spec.resolve(raw, "interactions", file)
    check = _Checker(file, strict, report, len(raw))
    log = pd.DataFrame(
        {"user_id": _texts(raw[cols["user_id"]]), "item_id": _texts(raw[cols["item_id"]])}
    )
    for name, message in (("user_id", "empty user id"), ("item_id", "empty item id")):
        empty = (log[name] == "").to_numpy()
        check.drop("empty_id", empty, cols[name], _constant(message))
    log["timestamp"] = _timestamps(raw, cols, check, report, file)
    log["rating"] = _ratings(raw, cols, check)
    log["request"] = _texts(raw[cols["request"]]) if "request" in cols else ""
    if known is not None:
        unknown = (~log["item_id"].isin(known)).to_numpy()
        where = f"the catalog {catalog_file}"
        check.drop(
            "unknown_item",
            unknown,
            cols["item_id"],
            lambda i: f"item '{log['item_id'][i]}' is not in {where}",
        )
    if "timestamp" in cols:
        _drop_duplicate_rows(check, log, cols)
    return log[check.keep].reset_index(drop=True)


def _timestamps(
    raw: pd.DataFrame, cols: dict[str, str], check: _Checker, report: ValidationReport, file: str
) -> np.ndarray:
    """Unix seconds; without a timestamp column the row position, so file order is time order."""
    if "timestamp" not in cols:
        report.notes.append(
            f"{file} has no timestamp column: each user's rows are taken in file "
            "order (timestamp = row position)"
        )
        return np.arange(len(raw), dtype=np.int64)
    column = cols["timestamp"]
    seconds, ok = _parse_timestamps(raw[column])
    cells = raw[column].tolist()
    check.drop(
        "bad_timestamp",
        ~ok,
        column,
        lambda i: (
            f"cannot parse timestamp '{_cell_text(cells[i])}' (expected unix "
            "seconds/milliseconds or a date/time such as 2024-01-31T12:00:00)"
        ),
    )
    return seconds


def _ratings(raw: pd.DataFrame, cols: dict[str, str], check: _Checker) -> np.ndarray:
    if "rating" not in cols:
        return np.full(len(raw), np.nan)
    texts = _texts(raw[cols["rating"]])
    values, bad = _numbers(texts)
    check.drop("bad_rating", bad, cols["rating"], lambda i: f"rating '{texts[i]}' is not a number")
    return values


def _drop_duplicate_rows(check: _Checker, log: pd.DataFrame, cols: dict[str, str]) -> None:
    """The same user, item and timestamp twice is an export glitch, not a repeat purchase."""
    key = ["user_id", "item_id", "timestamp"]
    kept = log[check.keep]
    repeated = kept.duplicated(key, keep="first").to_numpy()
    bad = np.zeros(len(log), dtype=bool)
    bad[kept.index[repeated]] = True

    def describe(i: int) -> str:
        same = (log[key] == log.loc[i, key]).all(axis=1).to_numpy() & check.keep
        return (
            f"duplicate of row {int(np.flatnonzero(same)[0]) + 1} (same user, item and timestamp)"
        )

    check.drop("duplicate_row", bad, None, describe)


# --------------------------------------------------------------------------------------------
# Seed layout: one row per session, the history as a list in one cell


class _Names:
    """Matches the names in seed cells to catalog items: by item id first, then exact title."""

    def __init__(self, items: pd.DataFrame) -> None:
        self._ids = set(items["item_id"])
        self._titles: dict[str, str] = {}
        for item_id, title in zip(items["item_id"], items["title"], strict=True):
            self._titles.setdefault(str(title).strip(), str(item_id))

    def __call__(self, name: str) -> str | None:
        return name if name in self._ids else self._titles.get(name)


def _group_parts(parts: list[str], sep: str | None, names: _Names | None) -> list[str]:
    """Rejoin split parts into the longest catalog names (titles may hold the separator)."""
    if sep is None or names is None:
        return [p.strip() for p in parts if p.strip()]
    out: list[str] = []
    start = 0
    while start < len(parts):
        for end in range(min(len(parts), start + 4), start, -1):
            name = sep.join(parts[start:end]).strip()
            if end == start + 1 or names(name) is not None:
                break
        if name:
            out.append(name)
        start = end
    return out


def _cell_names(value: object, names: _Names | None) -> list[str] | None:
    """The item names in one list cell, or None when the cell is a malformed list literal."""
    whole = _cell_text(value) if not isinstance(value, (list, tuple, np.ndarray)) else ""
    if whole and names is not None and names(whole) is not None:
        return [whole]
    parts = _list_parts(value)
    return None if parts is None else _group_parts(parts[0], parts[1], names)


class _SessionReader:
    """Turns each seed row into item ids: the history, then the bought item(s)."""

    def __init__(self, check: _Checker, cols: dict[str, str], names: _Names | None) -> None:
        self.check = check
        self.cols = cols
        self.names = names

    def items(self, row: int, field: str, value: object) -> list[str] | None:
        """The row's item ids in one column, or None (and the problem reported)."""
        column = self.cols[field]
        found = _cell_names(value, self.names)
        if found is None:
            self.check.problem("bad_list", f"malformed list {_cell_text(value)!r}", row, column)
            return None
        if field == "target" and not found:
            self.check.problem("empty_target", "no bought/target item", row, column)
            return None
        if self.names is None:
            return found
        resolved = [self.names(name) for name in found]
        for name, item_id in zip(found, resolved, strict=True):
            if item_id is None:
                message = f"item '{name}' matches no item id or title in the catalog"
                self.check.problem("unknown_item", message, row, column)
                return None
        return [str(item_id) for item_id in resolved]


def _expand_sessions(
    path: str | Path,
    spec: _ColumnSpec,
    strict: bool,
    report: ValidationReport,
    names: _Names | None,
) -> pd.DataFrame:
    """Seed rows -> interactions: history in list order, then the bought item(s) with the text."""
    file = str(path)
    raw = read_table(path)
    cols = spec.resolve(raw, "seed", file)
    check = _Checker(file, strict, report, len(raw))
    users = _texts(raw[cols["user_id"]]).tolist() if "user_id" in cols else None
    requests = _texts(raw[cols["request"]]).tolist() if "request" in cols else [""] * len(raw)
    seconds, ok = _session_times(raw, cols, report, file)
    reader = _SessionReader(check, cols, names)
    histories, targets = raw[cols["history"]].tolist(), raw[cols["target"]].tolist()
    out: dict[str, list[Any]] = {"user_id": [], "item_id": [], "timestamp": [], "request": []}
    for i in range(len(raw)):
        row = i + 1
        if users is not None and not users[i]:
            check.problem("empty_id", "empty user id", row, cols["user_id"])
            continue
        if not ok[i]:
            check.problem(
                "bad_timestamp",
                f"cannot parse timestamp '{_cell_text(raw[cols['timestamp']].iloc[i])}'",
                row,
                cols["timestamp"],
            )
            continue
        history = reader.items(row, "history", histories[i])
        bought = None if history is None else reader.items(row, "target", targets[i])
        if history is None or bought is None:
            continue
        user = users[i] if users is not None else str(row)
        for item_id, request in [(h, "") for h in history] + [(b, requests[i]) for b in bought]:
            out["user_id"].append(user)
            out["item_id"].append(item_id)
            out["timestamp"].append(seconds[i] if "timestamp" in cols else len(out["timestamp"]))
            out["request"].append(request)
    return pd.DataFrame({**out, "rating": np.nan})


def _session_times(
    raw: pd.DataFrame, cols: dict[str, str], report: ValidationReport, file: str
) -> tuple[np.ndarray, np.ndarray]:
    if "timestamp" in cols:
        return _parse_timestamps(raw[cols["timestamp"]])
    report.notes.append(f"{file} has no timestamp column: rows are taken in file order")
    return np.zeros(len(raw), dtype=np.int64), np.ones(len(raw), dtype=bool)


# --------------------------------------------------------------------------------------------
# Assembly


def _catalog_from_ids(ids: Iterable[str]) -> pd.DataFrame:
    """Without a catalog file the items are the ids seen, each titled by its id."""
    unique = list(dict.fromkeys(ids))
    return pd.DataFrame(
        {
            "item_id": pd.Series(unique, dtype=object),
            "title": pd.Series(unique, dtype=object),
            "categories": pd.Series([() for _ in unique], dtype=object),
            "description": "",
        }
    )


def _assemble(
    name: str,
    items: pd.DataFrame,
    log: pd.DataFrame,
    users: pd.DataFrame | None,
    report: ValidationReport,
    file: str,
) -> Dataset:
    if log.empty:
        raise DataError(
            "no valid interactions left after validation: "
            + "; ".join(str(i) for i in report.issues),
            file=file,
        )
    catalog = Catalog(items)
    frame = pd.DataFrame(
        {
            "user_id": log["user_id"].astype(str),
            "item_index": catalog.indices(log["item_id"]),
            "timestamp": log["timestamp"].astype(np.int64),
            "rating": log["rating"].astype(np.float64),
            "request": log["request"].astype(str),
        }
    )
    return Dataset(name, catalog, frame, users, report)


def _apply_filters(
    dataset: Dataset, min_rating: float | None, k_core: int | None, last_n: int | None
) -> Dataset:
    """Filters run on the validated, time-ordered log; their notes go into the report."""
    if min_rating is None and k_core is None and last_n is None:
        return dataset
    try:
        frame, notes = filter_interactions(
            dataset.interactions, min_rating=min_rating, k_core=k_core, last_n=last_n
        )
    except ValueError as exc:
        raise DataError(str(exc)) from None
    dataset.report.notes.extend(notes)
    if frame.empty:
        raise DataError("the filters removed every interaction: " + "; ".join(notes))
    return Dataset(dataset.name, dataset.catalog, frame, dataset.users, dataset.report)


_GENERIC_STEMS = {"interactions", "inter", "ratings", "data", "events"}


def _default_name(path: Path) -> str:
    """The file's stem, or its folder's name when the stem says nothing (``data.csv``)."""
    stem = path.name.split(".")[0] or path.name
    if stem.lower() in _GENERIC_STEMS and path.parent.name:
        return path.parent.name
    return stem


def load_dataset(
    interactions: str | Path,
    catalog: str | Path | None = None,
    users: str | Path | None = None,
    *,
    columns: Mapping[str, str] | None = None,
    strict: bool = True,
    min_rating: float | None = None,
    k_core: int | None = None,
    last_n: int | None = None,
    name: str | None = None,
) -> Dataset:
    """Load a user's interaction log, optional item catalog and user attributes.

    ``columns`` maps our field names (``user_id``, ``item_id``, ``timestamp``, ``rating``,
    ``request``, ``title``, ``categories``, ``description``; ``catalog.item_id`` for one file
    only) to the file's column names; the rest is inferred. ``strict=False`` turns data problems
    into counted warnings in ``dataset.report`` and drops the offending rows. Filters apply after
    validation. See docs/data-format.md.
    """
    kinds = ["interactions"] + (["catalog"] if catalog else []) + (["users"] if users else [])
    spec = _ColumnSpec(columns, kinds)
    report = ValidationReport()
    items = _read_catalog(catalog, spec, strict, report) if catalog else None
    known = set(items["item_id"]) if items is not None else None
    log = _read_interactions(
        interactions, spec, strict, report, str(catalog) if catalog else None, known
    )
    if items is None:
        items = _catalog_from_ids(log["item_id"])
    user_frame = _read_users(users, spec, strict, report) if users else None
    label = name or _default_name(Path(interactions))
    dataset = _assemble(label, items, log, user_frame, report, str(interactions))
    return _apply_filters(dataset, min_rating, k_core, last_n)


def load_seed_csv(
    path: str | Path,
    catalog: str | Path | None = None,
    *,
    columns: Mapping[str, str] | None = None,
    strict: bool = True,
    name: str | None = None,
) -> Dataset:
    """Load the seed article's layout: one row per session, the purchase history in one cell.

    Each row becomes the history items in list order, then the bought item(s), which carry the
    row's request text. Items are named by id or title; with a ``catalog`` they are matched to
    ``item_id`` first, then to the exact title, and without one the names become the items.
    ``columns`` may name ``request``, ``history``, ``target``, ``user_id``, ``timestamp``.
    """
    spec = _ColumnSpec(columns, ["seed"] + (["catalog"] if catalog else []))
    report = ValidationReport()
    items = _read_catalog(catalog, spec, strict, report) if catalog else None
    names = _Names(items) if items is not None else None
    log = _expand_sessions(path, spec, strict, report, names)
    if items is None:
        items = _catalog_from_ids(log["item_id"])
    label = name or _default_name(Path(path))
    return _assemble(label, items, log, None, report, str(path))
