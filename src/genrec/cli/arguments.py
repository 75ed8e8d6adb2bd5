"""Arguments shared by several commands, and the types that check flag values."""

from __future__ import annotations

import argparse
from typing import Any

from genrec.config import ConfigError
from genrec.data import BUILTIN
from genrec.data.spec import DataSpec

_UNIT_MINUTES = {"s": 1 / 60, "sec": 1 / 60, "m": 1.0, "min": 1.0, "h": 60.0}


class Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


def add_data_args(
    parser: argparse.ArgumentParser, required: bool = True, positional: bool = False
) -> None:
    """The flags that make a :class:`~genrec.data.spec.DataSpec` (see :func:`data_spec`)."""
    group = parser.add_argument_group("data")
    help_text = (
        f"a built-in dataset ({', '.join(BUILTIN)}) or an interactions file "
        "(CSV, TSV, Parquet, JSON Lines)"
    )
    if positional:
        group.add_argument("data", help=help_text)
    else:
        group.add_argument("--data", required=required, help=help_text)
    group.add_argument("--catalog", help="item catalog file (item id, title, categories, ...)")
    group.add_argument("--users", help="user attributes file")
    group.add_argument(
        "--layout",
        choices=["log", "seed"],
        default="log",
        help="'log': one interaction per row; 'seed': the seed article's data.csv, one session "
        "per row with the history as a list in one cell",
    )
    group.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="FIELD=NAME",
        help="map a field to your column name, e.g. --column user_id=customer (repeatable)",
    )
    group.add_argument(
        "--lenient", action="store_true", help="drop and count bad rows instead of failing"
    )
    group.add_argument("--min-rating", type=float, help="only ratings >= this count as positive")
    group.add_argument("--k-core", type=int, help="keep users and items with >= k interactions")
    group.add_argument("--last-n", type=int, help="keep each user's last N interactions")
    group.add_argument(
        "--noun",
        help="what the items are called, English plural/Chinese, e.g. 'products/商品' "
        "(default: inferred from the catalog)",
    )


def data_spec(args: argparse.Namespace) -> DataSpec:
    """The dataset the data flags name."""
    columns = {}
    for pair in args.column:
        field, sep, name = pair.partition("=")
        if not sep or not field or not name:
            raise ConfigError(f"--column expects FIELD=NAME, got {pair!r}")
        columns[field.strip()] = name.strip()
    return DataSpec(
        data=args.data,
        catalog=args.catalog,
        users=args.users,
        layout=args.layout,
        columns=columns,
        strict=not args.lenient,
        min_rating=args.min_rating,
        k_core=args.k_core,
        last_n=args.last_n,
        noun=getattr(args, "noun", None),
    )


def seed(text: str) -> int:
    """--seed: a whole number in [0, 2**32 - 1] (what NumPy's and torch's seeding accept)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number in [0, 2**32 - 1]")
    return value


def learn_every(text: str) -> tuple[int, float]:
    """--learn-every: '500' is (500 events, 0 minutes); '30min', '90s' or '2h' is (0, minutes)."""
    value = text.strip().lower()
    if value.isdigit():
        return int(value), 0.0
    number = value.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = value[len(number) :]
    try:
        amount = float(number)
    except ValueError:
        amount = -1.0
    if unit not in _UNIT_MINUTES or not amount > 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a number of events (500) nor a duration (30min, 90s, 2h)"
        )
    return 0, amount * _UNIT_MINUTES[unit]


def comma_list(text: str | None) -> list[str]:
    """'a,b,,c' -> ['a', 'b', 'c']; None -> []."""
    return [part for part in (text or "").split(",") if part]


def print_json(value: Any) -> None:
    import json

    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))
