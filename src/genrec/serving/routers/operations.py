"""``/healthz``, ``/readyz`` and ``/metrics``: for load balancers, orchestrators and Prometheus."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from genrec.serving.state import State

router = APIRouter(tags=["operations"])

# /metrics is public unless reads need a key, so it is on a router of its own.
metrics_router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up (the model may still be loading)."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(state: State) -> JSONResponse:
    """200 once the model (and an A/B test's candidate) is loaded and the store is open, else
    503 with the reason."""
    if state.holder.ready and state.store is not None and state.load_error is None:
        loaded = state.holder.current
        body = {"ready": True, "model_version": loaded.version, "model_path": str(loaded.path)}
        if state.experiment is not None:
            body["ab"] = state.experiment.describe()
        return JSONResponse(body)
    reason = state.load_error or "the model is loading"
    return JSONResponse({"ready": False, "error": reason}, status_code=503)


@metrics_router.get(
    "/metrics",
    # Response, not PlainTextResponse: errors (a 401) stay documented as JSON.
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
def metrics(state: State) -> Response:
    """Request counts and latency, batch sizes, feedback and the model version; the online
    metrics of each version over the last ``online_days`` (genrec.monitoring; recomputed at
    most every ``online_refresh_seconds``), as Prometheus text."""
    state.refresh_online()
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
