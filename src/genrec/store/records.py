"""What the feedback store holds, as plain Python: events, served lists, database URLs.

Nothing here needs SQLAlchemy, FastAPI or pydantic, so code without the serving stack (the CLI
catching :class:`StoreError`, a script building :class:`FeedbackEvent` rows) can import it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

EVENTS: tuple[str, ...] = ("impression", "click", "like", "dislike", "purchase", "skip", "rating")


class StoreError(RuntimeError):
    """The store cannot be used: bad URL, unreachable database, or a schema it does not know."""


def as_utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class FeedbackEvent:
    """One thing a user did with an item. Naive timestamps are taken as UTC."""

    user_id: str
    item_id: str
    event: str
    timestamp: datetime
    value: float | None = None
    recommendation_id: str | None = None
    idempotency_key: str | None = None

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise ValueError(f"unknown event {self.event!r}; expected one of {', '.join(EVENTS)}")
        for name in ("user_id", "item_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        for name in ("recommendation_id", "idempotency_key"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"{name} must be a non-empty string or None, got {value!r}")
        object.__setattr__(self, "timestamp", as_utc(self.timestamp, "timestamp"))
        if self.event == "rating":
            if (
                isinstance(self.value, bool)
                or not isinstance(self.value, int | float)
                or not math.isfinite(self.value)
            ):
                raise ValueError(f"a rating needs a finite numeric value, got {self.value!r}")
            object.__setattr__(self, "value", float(self.value))
        elif self.value is not None:
            raise ValueError(f"only a rating carries a value; {self.event!r} got {self.value!r}")


@dataclass(frozen=True)
class ServedList:
    """One recommendation list as it was served: the context for learning from its feedback."""

    recommendation_id: str
    user_id: str | None
    request: str
    history: list[str]
    items: list[str]
    scores: list[float]
    model_version: str
    fallback: bool
    created_at: datetime
    arm: str | None = None  # the A/B arm ("control", "candidate"); None outside a test

    def __post_init__(self) -> None:
        if not isinstance(self.recommendation_id, str) or not self.recommendation_id:
            raise ValueError(
                f"recommendation_id must be a non-empty string, got {self.recommendation_id!r}"
            )
        object.__setattr__(self, "created_at", as_utc(self.created_at, "created_at"))


def normalize_url(url: str) -> str:
    """A database URL SQLAlchemy can open with the installed drivers.

    ``postgresql://`` and ``postgres://`` use psycopg 3; SQLite URLs are kept; a plain filesystem
    path becomes the URL of a SQLite file at its absolute path.
    """
    url = url.strip()
    if not url:
        raise StoreError("empty database URL")
    if "://" not in url:
        return _sqlite_file_url(Path(url))
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    if scheme in ("postgresql", "postgres"):
        return "postgresql+psycopg://" + rest
    if scheme.startswith("postgresql+") or scheme == "sqlite" or scheme.startswith("sqlite+"):
        return f"{scheme}://{rest}"
    raise StoreError(
        f"unsupported database URL scheme {scheme!r}; use sqlite:///path, postgresql://... "
        "or a file path"
    )


def default_sqlite_url(directory: Path) -> str:
    """The URL of the SQLite file ``feedback.sqlite3`` inside ``directory``."""
    return _sqlite_file_url(Path(directory) / "feedback.sqlite3")


# Characters that would end or alter the path part of a URL (SQLAlchemy decodes %XX there).
_URL_PATH_ESCAPES = str.maketrans({"%": "%25", "?": "%3F", "#": "%23"})


def _sqlite_file_url(path: Path) -> str:
    return "sqlite:///" + path.expanduser().resolve().as_posix().translate(_URL_PATH_ESCAPES)
