"""The HTTP service: a FastAPI app built by :func:`create_app` from :class:`ServeSettings`.

Recommendations go through a :class:`~genrec.serving.batcher.MicroBatcher` (requests arriving
together are decoded together, in a worker thread); feedback goes through another one, so that
concurrent events share one committed transaction (every event is committed before its 2xx). Each
served list is logged to the store from a background thread, off the request path.

This module only wires the parts: the state (``state.py``), its lifespan, the routers (one per
concern in ``routers/``), API keys (``auth.py``), middleware and error handlers (``errors.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, params
from fastapi.middleware.cors import CORSMiddleware

from genrec.config import ConfigError
from genrec.e5 import set_process_precision
from genrec.lifecycle import resolve_model_dir
from genrec.minilm import set_process_reader
from genrec.serving.auth import KEY_RESPONSES, require_key
from genrec.serving.errors import ERROR_RESPONSES, add_error_handlers
from genrec.serving.middleware import BodyLimitMiddleware, MetricsMiddleware
from genrec.serving.online import learn_loop
from genrec.serving.routers import admin, catalog, feedback, operations, page, recommendations
from genrec.serving.service import LoadedModel, ModelHolder
from genrec.serving.settings import ServeSettings, load_settings
from genrec.serving.state import ServiceState, load_model, poll_reload

API_VERSION = "v1"


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
    set_process_precision(settings.encoder_precision)
    set_process_reader(settings.english_reader)
    state = ServiceState(settings, ModelHolder(settings.model_dir, preloaded))
    if preloaded is not None:
        state.metrics.set_model(preloaded.version)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await state.open()
        if not state.holder.ready:
            if load_in_background:
                state.tasks.append(asyncio.create_task(load_model(state)))
            else:
                await load_model(state)
        if settings.reload_poll_seconds > 0:
            state.tasks.append(asyncio.create_task(poll_reload(state)))
        if settings.learns_online:
            state.tasks.append(asyncio.create_task(learn_loop(state)))
        try:
            yield
        finally:
            await state.close()

    app = FastAPI(
        title="genrec",
        version=API_VERSION,
        summary="A generative recommender: ranked catalog items and a sentence, from a user's "
        "history and their request in their own words.",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    app.state.genrec = state
    include_routers(app, settings)
    add_error_handlers(app)
    # Outermost first: metrics see every answer, including 413s.
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    return app


def include_routers(app: FastAPI, settings: ServeSettings) -> None:
    """Writes need a key whenever keys are configured; reads only with
    ``require_key_for_reads``. Only routers that check a key declare one in the OpenAPI
    document, so it tells clients exactly which calls need ``Authorization: Bearer KEY``."""
    keyed = [Depends(require_key)]
    write = keyed if settings.api_keys else []
    read = keyed if settings.api_keys and settings.require_key_for_reads else []
    routers: list[tuple[APIRouter, Sequence[params.Depends]]] = [
        (recommendations.router, read),
        (feedback.router, write),
        (catalog.router, read),
        (admin.router, write),
        (operations.router, []),
        (operations.metrics_router, read),
        (page.router, []),
    ]
    for router, dependencies in routers:
        responses = KEY_RESPONSES if dependencies else None
        app.include_router(router, dependencies=dependencies, responses=responses)


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (used by ``genrec serve``, one per worker process):
    settings come from ``GENREC_SETTINGS_JSON`` if set, else from ``GENREC_*`` variables."""
    raw = os.environ.get("GENREC_SETTINGS_JSON")
    settings = ServeSettings.model_validate(json.loads(raw)) if raw else load_settings()
    return create_app(settings)
