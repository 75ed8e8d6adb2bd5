"""The feedback store: what users did with the recommendations, and the lists they were served.

:mod:`~genrec.store.records` holds the records as plain Python (events, served lists, database
URLs, :class:`StoreError`); :mod:`~genrec.store.database` the store itself on SQLAlchemy
(SQLite or PostgreSQL), which needs the ``serve`` extra; :func:`open_store` opens one and says
which extra is missing when it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from genrec.store.records import (
    EVENTS,
    FeedbackEvent,
    ServedList,
    StoreError,
    default_sqlite_url,
    normalize_url,
)

if TYPE_CHECKING:
    from genrec.store.database import FeedbackStore

__all__ = [
    "EVENTS",
    "FeedbackEvent",
    "ServedList",
    "StoreError",
    "default_sqlite_url",
    "normalize_url",
    "open_store",
]


def open_store(url: str) -> FeedbackStore:
    """Open the store at ``url`` (``sqlite:///file``, ``postgresql://...`` or a file path),
    creating or migrating its tables."""
    try:
        from genrec.store.database import FeedbackStore
    except ImportError as exc:
        raise StoreError(
            f"the feedback store needs the 'serve' extra: pip install 'genrec[serve]' ({exc})"
        ) from None
    return FeedbackStore(url)
