"""The ``genrec`` command: thin adapters over the library (:mod:`genrec.lifecycle` and the
models), one module for the parser and one for the commands.

Every bad input (missing file, malformed data, unknown user or item, bad config) ends in one line
``error: ...`` on stderr and exit status 2, never a stack trace.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from genrec.cli.parser import build_parser
from genrec.config import ConfigError
from genrec.data.schema import DataError, UnknownItemError
from genrec.recommender import ModelDirError, UnknownUserError
from genrec.store import StoreError

USER_ERRORS = (
    DataError,
    ConfigError,
    UnknownUserError,
    UnknownItemError,
    ModelDirError,
    StoreError,
    FileNotFoundError,
    ValueError,
)

__all__ = ["USER_ERRORS", "build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except USER_ERRORS as exc:
        message = str(exc).strip("'\"") if isinstance(exc, KeyError) else str(exc)
        print(f"error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `genrec ... | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
