"""The HTTP service: a FastAPI app built by :func:`create_app` from :class:`ServeSettings`.

Recommendations go through a :class:`~genrec.serving.batcher.MicroBatcher` (requests arriving
together are decoded together, in a worker thread); feedback goes through another one, so that
concurrent events share one committed transaction (every event is committed before its 2xx). Each
served list is logged to the store from a background thread, off the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import logging
import math
import os
import queue
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from string import Template
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, FastAPI, Request
from fastapi import Query as QueryParam
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException

from genrec.config import ConfigError
from genrec.recommender import ModelDirError
from genrec.serving.batcher import MicroBatcher
from genrec.serving.middleware import BodyLimitMiddleware, Metrics, MetricsMiddleware
from genrec.serving.schemas import (
    CatalogItem,
    ErrorOut,
    FeedbackIn,
    FeedbackOut,
    ItemOut,
    ItemSearchOut,
    RecommendationIn,
    RecommendationOut,
    ReloadOut,
)
from genrec.serving.service import Answer, LoadedModel, ModelHolder, Query, resolve_model_dir
from genrec.serving.settings import ServeSettings
from genrec.serving.store import FeedbackEvent, FeedbackStore, ServedList, default_sqlite_url

log = logging.getLogger("genrec.serving")

API_VERSION = "v1"
# Module level: FastAPI resolves the (string) annotations below against this module's globals.
BEARER = HTTPBearer(auto_error=False, description="an API key from GENREC_API_KEYS")
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 404, 409, 413, 422, 503)
}


class ServedLog:
    """Stores served lists from a background thread, many per transaction."""

    def __init__(self, store: FeedbackStore, metrics: Metrics, batch: int = 500) -> None:
        self.store = store
        self.metrics = metrics
        self.batch = batch
        self._queue: queue.Queue[ServedList | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="genrec-served-log", daemon=True)
        self._thread.start()

    def put(self, served: ServedList) -> None:
        self._queue.put(served)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            pending = [first]
            while len(pending) < self.batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                pending.append(nxt)
            try:
                self.store.log_served(pending)
            except Exception:
                log.exception("could not store %d served lists", len(pending))
                self.metrics.served_log_errors.inc(len(pending))


@dataclass
class ServiceState:
    settings: ServeSettings
    holder: ModelHolder
    metrics: Metrics = field(default_factory=Metrics)
    store: FeedbackStore | None = None
    served_log: ServedLog | None = None
    load_error: str | None = None
    recommender: MicroBatcher[Query, Answer] | None = None
    feedback: MicroBatcher[FeedbackEvent, tuple[int, bool]] | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def store_url(settings: ServeSettings) -> str:
    """The feedback store's URL: ``--db``, or a SQLite file in the model folder."""
    if settings.db:
        return settings.db
    return default_sqlite_url(Path(settings.model_dir))


def create_app(
    settings: ServeSettings,
    *,
    load_in_background: bool = True,
    preloaded: LoadedModel | None = None,
) -> FastAPI:
    """Build the service. ``load_in_background`` answers ``/healthz`` at once and ``/readyz``
    once the model is in memory; ``preloaded`` serves an already loaded model (tests)."""
    settings.check_startable()
    if resolve_model_dir(settings.model_dir) == Path(settings.model_dir) and settings.learns_online:
        raise ConfigError(
            f"--learn-every needs a folder of versions (e.g. {settings.model_dir}/v0001), so "
            "that each fine-tune becomes a new version; move the model into a subfolder"
        )
    if settings.torch_threads:
        import torch

        torch.set_num_threads(settings.torch_threads)
    state = ServiceState(settings, ModelHolder(settings.model_dir, preloaded))
    metrics = state.metrics
    if preloaded is not None:
        metrics.set_model(preloaded.version)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.store = await asyncio.to_thread(FeedbackStore, store_url(settings))
        if settings.log_served:
            state.served_log = ServedLog(state.store, metrics)
        state.recommender = MicroBatcher(
            lambda queries: state.holder.current.answer(queries),
            max_batch=settings.batch_max,
            max_wait_ms=settings.batch_wait_ms,
            name="decode",
            on_batch=_observe_batch(metrics),
        )
        store = state.store
        state.feedback = MicroBatcher(
            store.add_feedback_many,
            max_batch=settings.feedback_batch_max,
            max_wait_ms=0.0,
            name="feedback",
        )
        await state.recommender.start()
        await state.feedback.start()
        if not state.holder.ready:
            if load_in_background:
                state.tasks.append(asyncio.create_task(_load(state)))
            else:
                await _load(state)
        if settings.reload_poll_seconds > 0:
            state.tasks.append(asyncio.create_task(_poll_reload(state)))
        if settings.learns_online:
            state.tasks.append(asyncio.create_task(_learn_loop(state)))
        try:
            yield
        finally:
            for task in state.tasks:
                task.cancel()
            await state.recommender.stop()
            await state.feedback.stop()
            if state.served_log is not None:
                await asyncio.to_thread(state.served_log.close)
            await asyncio.to_thread(store.close)

    app = FastAPI(
        title="genrec",
        version=API_VERSION,
        summary="A generative recommender: ranked catalog items and a sentence, from a user's "
        "history and their request in their own words.",
        lifespan=lifespan,
        responses=ERRORS,
    )
    app.state.genrec = state
    keys = [k.encode() for k in settings.api_keys]

    def authorize(credentials: HTTPAuthorizationCredentials | None) -> None:
        if not keys:
            return  # --insecure-dev
        token = credentials.credentials.encode() if credentials is not None else b""
        # Compare against every key, always: the time taken does not tell which key is close.
        matches = [hmac.compare_digest(token, key) for key in keys]
        if not token or not any(matches):
            raise HTTPException(
                401,
                "missing or wrong API key: send 'Authorization: Bearer KEY'",
                headers={"WWW-Authenticate": "Bearer"},
            )

    async def write_access(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    ) -> None:
        authorize(credentials)

    async def read_access(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    ) -> None:
        if settings.require_key_for_reads:
            authorize(credentials)

    _error_handlers(app)

    # ------------------------------------------------------------- endpoints
    @app.post(
        "/v1/recommendations",
        response_model=RecommendationOut,
        dependencies=[Depends(read_access)],
        tags=["recommendations"],
    )
    async def recommend(body: RecommendationIn) -> RecommendationOut:
        """Top-k catalog items for a user, a history and/or a request, with a sentence."""
        started = time.perf_counter()
        _check_limits(body, settings)
        _ready_model(state)
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
        metrics.recommendations.labels(str(answer.fallback).lower()).inc()
        if state.served_log is not None:
            state.served_log.put(
                ServedList(
                    recommendation_id=rec_id,
                    user_id=query.user_id,
                    request=query.request,
                    history=answer.history,
                    items=[r.item_id for r in answer.items],
                    scores=[_finite(r.score) for r in answer.items],
                    model_version=answer.model_version,
                    fallback=answer.fallback,
                    created_at=datetime.now(UTC),
                )
            )
        return RecommendationOut(
            recommendation_id=rec_id,
            items=[
                ItemOut(item_id=r.item_id, title=r.title, score=_finite(r.score))
                for r in answer.items
            ],
            text=answer.text,
            model_version=answer.model_version,
            fallback=answer.fallback,
            warnings=answer.warnings,
            latency_ms=round(latency, 3),
        )

    @app.post(
        "/v1/feedback",
        response_model=FeedbackOut,
        status_code=201,
        dependencies=[Depends(write_access)],
        tags=["feedback"],
        responses={200: {"model": FeedbackOut, "description": "idempotency key seen before"}},
    )
    async def feedback(body: FeedbackIn, request: Request) -> JSONResponse:
        """Record what a user did with an item. Committed to the store before the answer."""
        key = body.idempotency_key or request.headers.get("idempotency-key") or None
        if key is not None and not 1 <= len(key) <= 128:
            raise HTTPException(422, "idempotency key must be 1-128 characters")
        now = datetime.now(UTC)
        stamp = body.timestamp or now
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        if stamp > now + timedelta(days=1):
            raise HTTPException(422, "timestamp is more than a day in the future")
        event = FeedbackEvent(
            user_id=str(body.user_id),
            item_id=str(body.item_id),
            event=body.event,
            timestamp=stamp,
            value=None if body.value is None else float(body.value),
            recommendation_id=body.recommendation_id,
            idempotency_key=key,
        )
        assert state.feedback is not None
        try:
            row_id, created = await state.feedback.submit(event)
        except Exception:
            log.exception("feedback could not be stored")
            raise HTTPException(503, "the feedback store is unavailable; retry later") from None
        metrics.feedback.labels(body.event, str(created).lower()).inc()
        warnings = []
        if state.holder.ready and event.item_id not in state.holder.current.catalog:
            warnings.append(f"item '{event.item_id}' is not in the model's catalog (stored)")
        out = FeedbackOut(feedback_id=row_id, stored=created, warnings=warnings)
        return JSONResponse(out.model_dump(), status_code=201 if created else 200)

    @app.get(
        "/v1/items",
        response_model=ItemSearchOut,
        dependencies=[Depends(read_access)],
        tags=["catalog"],
    )
    def search_items(
        q: Annotated[str, QueryParam(max_length=200, description="part of a title")] = "",
        limit: Annotated[int, QueryParam(ge=1, le=100)] = 20,
    ) -> ItemSearchOut:
        """Catalog items whose title contains ``q`` (titles starting with it first)."""
        loaded = _ready_model(state)
        return ItemSearchOut(
            items=[
                CatalogItem(
                    item_id=loaded.item_ids[i],
                    title=loaded.titles[i],
                    categories=list(loaded.categories[i]),
                )
                for i in loaded.search(q, limit)
            ]
        )

    @app.get("/v1/items/{item_id}", dependencies=[Depends(read_access)], tags=["catalog"])
    def get_item(item_id: str) -> dict[str, Any]:
        """One catalog item with all its columns."""
        loaded = _ready_model(state)
        catalog = loaded.model._require_catalog()
        if item_id not in catalog:
            raise HTTPException(404, f"item '{item_id}' is not in the catalog")
        idx = catalog.index_of(item_id)
        row = {str(k): _json_safe(v) for k, v in catalog.items.iloc[idx].items()}
        row["interactions"] = int(loaded.popularity[idx])
        return row

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """The process is up (the model may still be loading)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    def readyz() -> JSONResponse:
        """200 once the model is loaded and the store is open, else 503."""
        if state.holder.ready and state.store is not None:
            loaded = state.holder.current
            return JSONResponse(
                {"ready": True, "model_version": loaded.version, "model_path": str(loaded.path)}
            )
        reason = state.load_error or "the model is loading"
        return JSONResponse({"ready": False, "error": reason}, status_code=503)

    @app.get("/metrics", tags=["operations"], dependencies=[Depends(read_access)])
    def prometheus() -> Response:
        """Prometheus text: request counts and latency, batch sizes, feedback, model version."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/v1/admin/reload",
        response_model=ReloadOut,
        dependencies=[Depends(write_access)],
        tags=["operations"],
    )
    async def reload(force: bool = False) -> ReloadOut:
        """Load the newest model version from the model folder and swap it in; requests in
        flight finish on the old one. Nothing changes if the newest is already in use."""
        try:
            swapped, version, before = await _swap_in_newest(state, force)
        except ModelDirError as exc:
            raise HTTPException(409, f"reload failed, still serving the old model: {exc}") from None
        except Exception as exc:
            log.exception("reload failed")
            raise HTTPException(
                409, f"reload failed, still serving the old model: {type(exc).__name__}"
            ) from None
        return ReloadOut(reloaded=swapped, model_version=version, previous_version=before)

    page_template = Template(resources.files("genrec.serving").joinpath("page.html").read_text())

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(_render_page(state, page_template))

    # Outermost first: metrics see every answer, including 413s.
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


# ------------------------------------------------------------------------------ helpers
def _observe_batch(metrics: Metrics) -> Any:
    def observe(size: int, seconds: float) -> None:
        metrics.batch_size.observe(size)
        metrics.batch_seconds.observe(seconds)

    return observe


async def _load(state: ServiceState) -> None:
    try:
        loaded = await asyncio.to_thread(state.holder.load)
    except Exception as exc:
        state.load_error = f"the model could not be loaded: {exc}"
        log.exception("model load failed")
        return
    state.metrics.set_model(loaded.version)
    log.info("serving model %s from %s", loaded.version, loaded.path)


async def _swap_in_newest(state: ServiceState, force: bool = False) -> tuple[bool, str, str | None]:
    """Load the newest version off the event loop and swap it in; the one place that records a
    swap (metrics, log). Returns (swapped, version in use, version before); raises on failure."""
    swapped, version, before = await asyncio.to_thread(state.holder.reload, force)
    if swapped:
        state.metrics.reloads.inc()
        state.metrics.set_model(version)
        log.info("model %s -> %s", before, version)
    return swapped, version, before


async def _poll_reload(state: ServiceState) -> None:
    """Pick up a newer version written to the model folder (reaches every worker process)."""
    while True:
        await asyncio.sleep(state.settings.reload_poll_seconds)
        if not state.holder.ready:
            continue
        try:
            await _swap_in_newest(state)
        except Exception:
            log.exception("polling reload failed; still serving the old model")


async def _learn_loop(state: ServiceState) -> None:
    """Online learning: after ``learn_every`` new feedback events, or ``learn_every_minutes``
    with at least one, run `genrec finetune` on the events since the last run, in a child
    process at low priority with one thread (serving keeps the CPU it needs), then swap in the
    new version if the fine-tune promoted it (the guard validates on the dataset the model was
    trained on)."""
    settings = state.settings
    assert state.store is not None
    store = state.store
    seen = await asyncio.to_thread(store.count_feedback)
    since = time.time()
    last_run = time.monotonic()
    while True:
        await asyncio.sleep(settings.learn_check_seconds)
        if not state.holder.ready:
            continue
        count = await asyncio.to_thread(store.count_feedback)
        new = count - seen
        by_count = settings.learn_every > 0 and new >= settings.learn_every
        by_time = (
            settings.learn_every_minutes > 0
            and new > 0
            and time.monotonic() - last_run >= settings.learn_every_minutes * 60
        )
        if not (by_count or by_time):
            continue
        last_run = time.monotonic()
        started = time.time()
        argv = [sys.executable, "-m", "genrec.cli", "finetune", "--model-dir",
                str(settings.model_dir), "--feedback", store_url(settings), "--since",
                str(since), "--quiet"]  # fmt: skip
        if settings.learn_config is not None:
            argv += ["--config", str(settings.learn_config)]
        log.info("online learning: %d new events, fine-tuning", new)
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            preexec_fn=_lower_priority,
        )
        try:
            output, _ = await proc.communicate()
        except asyncio.CancelledError:  # the server is stopping: the child must not outlive it
            proc.kill()
            await proc.wait()
            raise
        seen = count  # a failed run is not retried on the same events
        if proc.returncode != 0:
            state.metrics.finetunes.labels("failed").inc()
            tail = output.decode(errors="replace").strip().splitlines()[-3:]
            log.error("online fine-tune failed: %s", " | ".join(tail))
            continue
        since = started
        state.metrics.finetunes.labels("ok").inc()
        try:
            await _swap_in_newest(state)
        except Exception:
            log.exception("reload after online fine-tune failed; still serving the old model")


def _lower_priority() -> None:  # runs in the child before exec
    os.nice(10)


def _ready_model(state: ServiceState) -> LoadedModel:
    if not state.holder.ready:
        detail = state.load_error or "the model is still loading; retry shortly"
        raise HTTPException(503, detail, headers={"Retry-After": "2"})
    return state.holder.current


def _check_limits(body: RecommendationIn, settings: ServeSettings) -> None:
    problems = []
    if body.history is not None and len(body.history) > settings.max_history:
        problems.append(f"history has {len(body.history)} items; at most {settings.max_history}")
    if len(body.exclude) > settings.max_exclude:
        problems.append(f"exclude has {len(body.exclude)} items; at most {settings.max_exclude}")
    if len(body.request) > settings.max_request_chars:
        problems.append(
            f"request has {len(body.request)} characters; at most {settings.max_request_chars}"
        )
    if body.categories is not None and len(body.categories) > 100:
        problems.append("at most 100 categories")
    if problems:
        raise HTTPException(422, "; ".join(problems))


def _finite(score: float) -> float:
    return float(score) if math.isfinite(score) else -1e30


def _json_safe(value: Any) -> Any:
    if isinstance(value, tuple | list | np.ndarray):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
            details.append({"field": ".".join(loc) or "body", "message": str(err.get("msg"))})
        first = details[0] if details else {"field": "body", "message": "invalid"}
        return JSONResponse(
            {
                "error": f"invalid request: {first['field']}: {first['message']}",
                "details": details[:20],
            },
            status_code=422,
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal server error"}, status_code=500)


def _render_page(state: ServiceState, template: Template) -> str:
    users: Sequence[str] = []
    version = "loading"
    if state.holder.ready:
        loaded = state.holder.current
        users = list(loaded.model.histories)[: state.settings.page_users]
        version = loaded.version
    options = "".join(f'<option value="{html.escape(u)}"></option>' for u in users)
    return template.substitute(
        version=html.escape(version),
        user_options=options,
        key_required="true" if state.settings.api_keys else "false",
    )


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (used by ``genrec serve``, one per worker process):
    settings come from ``GENREC_SETTINGS_JSON`` if set, else from ``GENREC_*`` variables."""
    import json
    import os

    from genrec.serving.settings import load_settings

    raw = os.environ.get("GENREC_SETTINGS_JSON")
    settings = ServeSettings.model_validate(json.loads(raw)) if raw else load_settings()
    return create_app(settings)
