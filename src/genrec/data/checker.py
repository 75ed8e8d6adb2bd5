"""Problems in a user's file: raised (strict, the default) or counted and dropped (lenient).

A bad file should stop a run before any training, unless the user knowingly accepts a messy
export; then each kind of problem is counted once in the report and its rows are dropped.
Messages name the file, the 1-based data row (header not counted) and the file's column,
because that is what a user needs to go and fix the file.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from genrec.data.schema import DataError, DataIssue, ValidationReport


class Checker:
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
