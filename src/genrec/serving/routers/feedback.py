"""``POST /v1/feedback``: what a user did with an item, committed to the store before the answer."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from genrec.serving.schemas import FeedbackIn, FeedbackOut, RatingIn
from genrec.serving.state import State
from genrec.store import FeedbackEvent

log = logging.getLogger("genrec.serving")
router = APIRouter(tags=["feedback"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        description="a repeated key stores nothing twice (the body's idempotency_key wins)",
    ),
]


@router.post(
    "/v1/feedback",
    response_model=FeedbackOut,
    status_code=201,
    responses={200: {"model": FeedbackOut, "description": "idempotency key seen before"}},
)
async def feedback(
    body: FeedbackIn, state: State, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Record what a user did with an item. Committed to the store before the answer."""
    event = FeedbackEvent(
        user_id=str(body.user_id),
        item_id=str(body.item_id),
        event=body.event,
        timestamp=checked_timestamp(body.timestamp),
        value=body.value if isinstance(body, RatingIn) else None,
        recommendation_id=body.recommendation_id,
        idempotency_key=body.idempotency_key or idempotency_key,
    )
    assert state.feedback is not None
    try:
        row_id, created = await state.feedback.submit(event)
    except Exception:
        log.exception("feedback could not be stored")
        raise HTTPException(503, "the feedback store is unavailable; retry later") from None
    state.metrics.feedback.labels(body.event, str(created).lower()).inc()
    warnings = []
    if state.holder.ready and event.item_id not in state.holder.current.catalog:
        warnings.append(f"item '{event.item_id}' is not in the model's catalog (stored)")
    out = FeedbackOut(feedback_id=row_id, stored=created, warnings=warnings)
    return JSONResponse(out.model_dump(), status_code=201 if created else 200)


def checked_timestamp(stamp: datetime | None) -> datetime:
    """When the event happened: the server's time if not given, UTC if given without a zone."""
    now = datetime.now(UTC)
    stamp = stamp or now
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    if stamp > now + timedelta(days=1):
        raise HTTPException(422, "timestamp is more than a day in the future")
    return stamp
