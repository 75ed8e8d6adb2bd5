"""Reading a table from a file by its suffix: CSV, TSV, RecBole atomic files, Parquet, JSON
(Lines), optionally compressed. Every failure is a :class:`DataError` naming the file."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Literal

import pandas as pd

from genrec.data.schema import DataError

# --------------------------------------------------------------------------------------------
# File formats

_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".inter": "tsv",  # RecBole atomic files are tab-separated
    ".item": "tsv",
    ".user": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
}
_Compression = Literal["gzip", "bz2", "xz", "zip", "zstd"]
_COMPRESSIONS: dict[str, _Compression] = {
    ".gz": "gzip",
    ".bz2": "bz2",
    ".xz": "xz",
    ".zip": "zip",
    ".zst": "zstd",
}
_PARQUET_CODECS = {".brotli", ".snappy", ".lz4", ".zstd", ".gzip"}  # codec named after .parquet
_JSON_OPENERS: dict[str, Callable[..., IO[str]]] = {
    "gzip": gzip.open,
    "bz2": bz2.open,
    "xz": lzma.open,
}


def _format_of(path: Path) -> tuple[str, _Compression | None]:
    """(format, compression) from the suffixes, so a file is never read with a guessed parser."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-2:-1] in ([".parquet"], [".pq"]) and suffixes[-1] in _PARQUET_CODECS:
        return "parquet", None
    compression = _COMPRESSIONS.get(suffixes[-1]) if suffixes else None
    if compression is not None:
        suffixes.pop()
    fmt = _FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        shown = "".join(path.suffixes) or "(none)"
        raise DataError(
            f"unknown file suffix {shown}; supported: {', '.join(_FORMATS)}, optionally followed "
            f"by a compression suffix ({', '.join(_COMPRESSIONS)})",
            file=str(path),
        )
    if fmt == "parquet" and compression is not None:
        raise DataError(
            "a Parquet file is compressed inside; do not compress it as a whole", file=str(path)
        )
    return fmt, compression


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV, TSV, Parquet or JSON (Lines) file into a frame, with errors as ``DataError``.

    CSV and TSV cells are read as text (empty cells are ""), so ids such as ``007`` keep their
    leading zeros; the readers convert the fields they know. An empty file or a header without
    data rows is an error because nothing downstream can do anything useful with it.
    """
    file = Path(path)
    fmt, compression = _format_of(file)
    if not file.is_file():
        raise DataError("file not found" if not file.exists() else "not a file", file=str(file))
    try:
        frame = _read_by_format(file, fmt, compression)
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError("the file is empty", file=str(file)) from None
    except Exception as exc:  # pandas, pyarrow, codecs: wrap, never show a raw stack trace
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot read the file as {fmt}: {reason}", file=str(file)) from exc
    frame.columns = pd.Index([str(c).strip() for c in frame.columns])
    if len(frame.columns) == 0:
        raise DataError("the file is empty", file=str(file))
    if len(frame) == 0:
        raise DataError("the file has a header but no data rows", file=str(file))
    return frame.reset_index(drop=True)


def _read_by_format(file: Path, fmt: str, compression: _Compression | None) -> pd.DataFrame:
    if fmt == "parquet":
        return pd.read_parquet(file)
    if fmt in ("json", "jsonl"):
        return _read_json(file, compression, lines=fmt == "jsonl")
    frame = _read_delimited(file, "\t" if fmt == "tsv" else ",", compression)
    if fmt == "csv" and len(frame.columns) == 1:
        # A "CSV" exported with another separator (Excel in many locales writes ';').
        header = str(frame.columns[0])
        for sep in (";", "\t", "|"):
            if sep in header:
                return _read_delimited(file, sep, compression)
    return frame


def _read_delimited(file: Path, sep: str, compression: _Compression | None) -> pd.DataFrame:
    return pd.read_csv(
        file,
        sep=sep,
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        encoding="utf-8-sig",
        compression=compression,
    )


def _read_json(file: Path, compression: _Compression | None, *, lines: bool) -> pd.DataFrame:
    """JSON Lines, or for ``.json`` also one array of records (or one object of columns)."""
    text = _read_text(file, compression)
    if not text.strip():
        raise DataError("the file is empty", file=str(file))
    if not lines:
        whole = _json_document(text)
        if isinstance(whole, list):
            return _records_frame(whole, file)
        if isinstance(whole, dict):
            if whole and all(isinstance(v, list) for v in whole.values()):
                return pd.DataFrame(whole)
            return _records_frame([whole], file)
    records: list[Any] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"malformed JSON on line {number}: {exc.msg}", file=str(file)
                ) from None
    return _records_frame(records, file)


def _json_document(text: str) -> Any:
    """The whole text as one JSON value, or None when it is not one (e.g. JSON Lines)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        if text.lstrip().startswith("["):
            raise
        return None


def _read_text(file: Path, compression: _Compression | None) -> str:
    if compression is None:
        return file.read_text(encoding="utf-8-sig")
    opener = _JSON_OPENERS.get(compression)
    if opener is None:
        raise DataError(
            f"{compression} compression is not supported for JSON files; use "
            f"{', '.join(_JSON_OPENERS)}",
            file=str(file),
        )
    with opener(file, "rt", encoding="utf-8-sig") as handle:
        return handle.read()


def _records_frame(records: list[Any], file: Path) -> pd.DataFrame:
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise DataError("expected a JSON object (one record)", file=str(file), row=number)
    return pd.DataFrame(records)
