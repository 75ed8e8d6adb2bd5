"""Request and response bodies of the HTTP API (pydantic, strict where it matters).

Item and user ids may be JSON strings or integers; they are compared as strings. Unknown fields
are refused, so a typo (``"hitsory"``) is a 422 that names it rather than a silently empty field.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

from genrec.serving.store import EVENTS

Id = Annotated[
    Annotated[StrictStr, Field(min_length=1, max_length=256)] | StrictInt,
    Field(description="an id (string or integer)"),
]
EventName = Literal["impression", "click", "like", "dislike", "purchase", "skip", "rating"]
assert set(EventName.__args__) == set(EVENTS)  # type: ignore[attr-defined]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecommendationIn(_Body):
    """Who asks and what for. Give a known ``user_id``, a ``history``, a ``request``, or any mix;
    none of them gets the most popular items (flagged ``fallback``)."""

    user_id: Id | None = Field(default=None, description="a user known to the model")
    history: list[Id] | None = Field(
        default=None,
        description="item ids the user interacted with, oldest first; replaces the stored history",
    )
    request: StrictStr = Field(default="", description="what the user asks for, in any language")
    k: StrictInt = Field(default=10, ge=1, le=100, description="how many items (1-100)")
    exclude: list[Id] = Field(default_factory=list, description="item ids never to return")
    categories: list[StrictStr] | None = Field(
        default=None, description="only items in any of these categories (case-insensitive)"
    )
    include_seen: StrictBool = Field(
        default=False, description="allow items already in the history"
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"user_id": "42", "request": "something funny for tonight", "k": 5},
                {"history": ["50", "181", "172"], "request": "我想看一部恐怖片", "k": 3},
            ]
        },
    )


class ItemOut(BaseModel):
    item_id: str
    title: str
    score: float


class RecommendationOut(BaseModel):
    recommendation_id: str = Field(description="quote it in feedback about this list")
    items: list[ItemOut]
    text: str = Field(description="the list as a sentence, in the request's language")
    model_version: str
    fallback: bool = Field(description="true when no history or request: popular items")
    warnings: list[str]
    latency_ms: float


class FeedbackIn(_Body):
    """One thing a user did with an item."""

    user_id: Id
    item_id: Id
    event: EventName
    value: StrictInt | float | None = Field(
        default=None, description="the rating, required for event 'rating' and only for it"
    )
    recommendation_id: StrictStr | None = Field(
        default=None, max_length=64, description="the list the item was shown in, if any"
    )
    timestamp: datetime | None = Field(
        default=None, description="when it happened (ISO 8601); server time if absent"
    )
    idempotency_key: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="a repeated key stores nothing twice (also accepted as Idempotency-Key header)",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "user_id": "42",
                    "item_id": "50",
                    "event": "like",
                    "recommendation_id": "3f2a9c...",
                    "idempotency_key": "42-50-like-1",
                },
                {"user_id": "42", "item_id": "181", "event": "rating", "value": 4.5},
            ]
        },
    )

    @model_validator(mode="after")
    def _value_matches_event(self) -> Self:
        if self.event == "rating":
            if self.value is None or not math.isfinite(float(self.value)):
                raise ValueError("event 'rating' needs a finite numeric 'value'")
        elif self.value is not None:
            raise ValueError(f"event '{self.event}' takes no 'value' (only 'rating' does)")
        return self


class FeedbackOut(BaseModel):
    feedback_id: int
    stored: bool = Field(description="false when the idempotency key was seen before")
    warnings: list[str]


class CatalogItem(BaseModel):
    item_id: str
    title: str
    categories: list[str]


class ItemSearchOut(BaseModel):
    items: list[CatalogItem]


class ReloadOut(BaseModel):
    reloaded: bool
    model_version: str
    previous_version: str | None


class ErrorOut(BaseModel):
    error: str
    details: list[dict[str, str]] | None = None
