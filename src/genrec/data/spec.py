"""Where a dataset comes from: a built-in name or the user's files, with how to read them.

A trained model records its spec (``fit_info["data"]``, as :meth:`DataSpec.to_dict`), so that
evaluation and the promotion guard of a later fine-tune can load the same data again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from genrec.data.builtin import BUILTIN, load_builtin
from genrec.data.readers import load_dataset, load_seed_csv
from genrec.data.schema import DataError, Dataset

LAYOUTS = ("log", "seed")


@dataclass(frozen=True)
class DataSpec:
    """A dataset to load: ``data`` is a built-in name (``ml-100k``) or an interactions file."""

    data: str
    catalog: str | None = None
    users: str | None = None
    layout: str = "log"  # "log": one interaction per row; "seed": one session per row
    columns: dict[str, str] = field(default_factory=dict)  # our field -> the file's column
    strict: bool = True  # a bad row is an error (else dropped and counted)
    min_rating: float | None = None
    k_core: int | None = None
    last_n: int | None = None
    noun: str | None = None  # what the items are called, "products/商品"; None: inferred

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise DataError(f"layout must be one of {', '.join(LAYOUTS)}, not {self.layout!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DataSpec:
        """A spec from a recorded dict (keys this genrec does not know are ignored)."""
        known = {f.name for f in fields(cls)}
        kept = {k: v for k, v in values.items() if k in known}
        kept["columns"] = dict(kept.get("columns") or {})
        return cls(**kept)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def filters(self) -> dict[str, Any]:
        return {"min_rating": self.min_rating, "k_core": self.k_core, "last_n": self.last_n}

    def load(self) -> Dataset:
        """Read and validate the dataset (a :class:`DataError` names what is wrong)."""
        dataset = self._load()
        if self.noun:
            dataset.noun = self.noun
        return dataset

    def _load(self) -> Dataset:
        if self.data in BUILTIN:
            return load_builtin(self.data, **self.filters)
        if self.layout == "seed":
            if any(v is not None for v in self.filters.values()):
                raise DataError(
                    "--min-rating/--k-core/--last-n are not available for --layout seed"
                )
            return load_seed_csv(
                self.data, self.catalog, columns=self.columns or None, strict=self.strict
            )
        if not Path(self.data).exists():
            raise DataError(
                f"'{self.data}' is neither a built-in dataset ({', '.join(BUILTIN)}) nor a file"
            )
        return load_dataset(
            self.data,
            self.catalog,
            self.users,
            columns=self.columns or None,
            strict=self.strict,
            **self.filters,
        )
