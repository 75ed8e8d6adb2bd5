"""Data in: the schema, readers for users' files, built-in datasets, filters and the split."""

from genrec.data.builtin import BUILTIN, load_builtin
from genrec.data.readers import load_dataset, load_seed_csv
from genrec.data.schema import Catalog, DataError, Dataset, UnknownItemError, ValidationReport

__all__ = [
    "BUILTIN",
    "Catalog",
    "DataError",
    "Dataset",
    "UnknownItemError",
    "ValidationReport",
    "load_builtin",
    "load_dataset",
    "load_seed_csv",
]
