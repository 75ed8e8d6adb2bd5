"""Request and response bodies of the HTTP API (pydantic, strict where it matters).

Item and user ids may be JSON strings or integers; they are compared as strings. Unknown fields
are refused, so a typo (``"hitsory"``) is a 422 that names it rather than a silently empty field.
What the OpenAPI document says a body may hold is what validation accepts, in both directions:
an integer may be written ``48.0`` (JSON Schema counts it as one), and the feedback body is one
variant per kind of event, so that only a rating has (and needs) a ``value``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
)

from genrec.store import EVENTS


def _integral(value: Any) -> Any:
    # JSON Schema's "integer" is any number with a zero fractional part, 48.0 included; strict
    # validation would refuse it while still refusing true, "48" and 48.5, which it should.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _text(value: Any) -> Any:
    # The document promises an ISO 8601 string; pydantic alone would also take epoch numbers.
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time string")
    return value


JsonInt = Annotated[StrictInt, BeforeValidator(_integral)]
Timestamp = Annotated[datetime, BeforeValidator(_text)]
Id = Annotated[
    Annotated[StrictStr, Field(min_length=1, max_length=256)] | JsonInt,
    Field(description="an id (string or integer)"),
]
UnratedEvent = Literal["impression", "click", "like", "dislike", "purchase", "skip"]
assert {*get_args(UnratedEvent), "rating"} == set(EVENTS)


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
    k: JsonInt = Field(default=10, ge=1, le=100, description="how many items (1-100)")
    exclude: list[Id] = Field(default_factory=list, description="item ids never to return")
    categories: list[StrictStr] | None = Field(
        default=None,
        max_length=100,
        description="only items in any of these categories (case-insensitive; at most 100)",
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
    understood: list[dict[str, Any]] = Field(
        default_factory=list,
        description="what was read from the request: hard constraints (category, exclude, "
        "max, min, years, similar), each applied as a filter so that no returned item violates "
        "one, then soft ones that only reweight the ranking (leaning: the category a request "
        "that names none describes; avoid: the category an unresolved exclusion points to)",
    )
    arm: str | None = Field(
        default=None,
        description="during an A/B test (serve --ab), the user's arm: 'control' or 'candidate' "
        "(null for requests without a user_id, which are not in the test)",
    )
    latency_ms: float


class _FeedbackBody(_Body):
    user_id: Id
    item_id: Id
    recommendation_id: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="the list the item was shown in, if any",
    )
    timestamp: Timestamp | None = Field(
        default=None,
        description="when it happened (ISO 8601; UTC if no offset); server time if absent; "
        "at most a day ahead of the server's clock",
    )
    idempotency_key: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="a repeated key stores nothing twice (also accepted as Idempotency-Key header)",
    )


class RatingIn(_FeedbackBody):
    """A user rated an item: the one event with a value."""

    event: Literal["rating"]
    value: Annotated[StrictFloat, Field(allow_inf_nan=False, description="the rating")]

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"user_id": "42", "item_id": "181", "event": "rating", "value": 4.5}]
        },
    )


class EventIn(_FeedbackBody):
    """A user saw, clicked, liked, disliked, bought or skipped an item (no value)."""

    event: UnratedEvent

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
                }
            ]
        },
    )


# One thing a user did with an item; ``event`` says which variant the body is.
FeedbackIn = Annotated[RatingIn | EventIn, Field(discriminator="event")]


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
