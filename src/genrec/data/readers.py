"""Readers for users' own files (being written)."""

from __future__ import annotations

from typing import Any

from genrec.data.schema import Dataset


def load_dataset(*args: Any, **kwargs: Any) -> Dataset:
    raise NotImplementedError


def load_seed_csv(*args: Any, **kwargs: Any) -> Dataset:
    raise NotImplementedError
