"""``POST /v1/recommendations``: ranked catalog items and a sentence for one user or request."""

from __future__ import annotations

import math
import time
import uuid
from datetime import UTC, datetime

from fastapi import APIRouter
from starlette.exceptions import HTTPException

from genrec.serving.schemas import ItemOut, RecommendationIn, RecommendationOut
from genrec.serving.service import Answer, Query
from genrec.serving.settings import ServeSettings
from genrec.serving.state import State, ready_model
from genrec.store import ServedList

router = APIRouter(tags=["recommendations"])


@router.post("/v1/recommendations", response_model=RecommendationOut)
async def recommend(body: RecommendationIn, state: State) -> RecommendationOut:
    """Top-k catalog items for a user, a history and/or a request, with a sentence."""
    started = time.perf_counter()
    check_limits(body, state.settings)
    ready_model(state)
    query = Query(
        user_id=None if body.user_id is None else str(body.user_id),
        history=None if body.history is None else [str(h) for h in body.history],
        request=body.request.strip(),
        k=body.k,
        exclude=[str(e) for e in body.exclude],
        categories=body.categories or None,
        exclude_seen=not body.include_seen,
    )
    assert state.recommender is not None
    answer = await state.recommender.submit(query)
    rec_id = uuid.uuid4().hex
    latency = (time.perf_counter() - started) * 1000
    state.metrics.recommendations.labels(str(answer.fallback).lower()).inc()
    if state.served_log is not None:
        state.served_log.put(served_list(rec_id, query, answer))
    return RecommendationOut(
        recommendation_id=rec_id,
        items=[
            ItemOut(item_id=r.item_id, title=r.title, score=finite(r.score)) for r in answer.items
        ],
        text=answer.text,
        model_version=answer.model_version,
        fallback=answer.fallback,
        warnings=answer.warnings,
        understood=answer.understood,
        arm=answer.arm,
        latency_ms=round(latency, 3),
    )


def check_limits(body: RecommendationIn, settings: ServeSettings) -> None:
    """The limits set per deployment (the body's schema holds the fixed ones): 422 above them."""
    problems = []
    if body.history is not None and len(body.history) > settings.max_history:
        problems.append(f"history has {len(body.history)} items; at most {settings.max_history}")
    if len(body.exclude) > settings.max_exclude:
        problems.append(f"exclude has {len(body.exclude)} items; at most {settings.max_exclude}")
    if len(body.request) > settings.max_request_chars:
        problems.append(
            f"request has {len(body.request)} characters; at most {settings.max_request_chars}"
        )
    if problems:
        raise HTTPException(422, "; ".join(problems))


def served_list(recommendation_id: str, query: Query, answer: Answer) -> ServedList:
    """The list as it was served, for learning from the feedback that quotes its id."""
    return ServedList(
        recommendation_id=recommendation_id,
        user_id=query.user_id,
        request=query.request,
        history=answer.history,
        items=[r.item_id for r in answer.items],
        scores=[finite(r.score) for r in answer.items],
        model_version=answer.model_version,
        fallback=answer.fallback,
        created_at=datetime.now(UTC),
        arm=answer.arm,
    )


def finite(score: float) -> float:
    # JSON has no infinity: a masked-out score (-inf) is written as a very low number.
    return float(score) if math.isfinite(score) else -1e30
