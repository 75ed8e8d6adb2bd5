"""What one service process holds while it runs: the model, the store, the batchers, the tasks.

:class:`ServiceState` is created by the app factory and opened and closed by its lifespan;
endpoints reach it through the :data:`State` dependency. The helpers below are the only places
that load or swap a model, so every swap is counted and logged the same way.
"""

from __future__ import annotations

import asyncio
import logging
import math
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from starlette.exceptions import HTTPException

from genrec.abtest import TrafficSplit, decide
from genrec.lifecycle import set_current
from genrec.monitoring import OnlineReport, report_from_store
from genrec.serving.batcher import MicroBatcher
from genrec.serving.experiment import (
    Experiment,
    comparison,
    start_experiment,
    why_not_promotable,
)
from genrec.serving.middleware import Metrics
from genrec.serving.service import Answer, LoadedModel, ModelHolder, Query
from genrec.serving.settings import ServeSettings
from genrec.store import FeedbackEvent, ServedList, default_sqlite_url
from genrec.store.database import FeedbackStore

log = logging.getLogger("genrec.serving")


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
    online_at: float = -math.inf  # when the online metrics were last computed (monotonic)
    online_lock: threading.Lock = field(default_factory=threading.Lock)
    experiment: Experiment | None = None  # a running A/B test (--ab)

    def answer(self, queries: Sequence[Query]) -> list[Answer]:
        """Answer a batch with the version in use, or, during an A/B test, each query with its
        arm's version."""
        control = self.holder.current
        experiment = self.experiment
        if experiment is None or experiment.outcome:
            return control.answer(queries)
        return experiment.answer(control, queries)

    def online_report(self) -> OnlineReport:
        """The online metrics of the last ``online_days`` (see genrec.monitoring)."""
        settings = self.settings
        assert self.store is not None
        size = len(self.holder.current.catalog) if self.holder.ready else None
        return report_from_store(
            self.store,
            since=datetime.now(UTC) - timedelta(days=settings.online_days),
            window=timedelta(hours=settings.online_window_hours),
            catalog_size=size,
        )

    def refresh_online(self) -> None:
        """Recompute the online gauges if ``online_refresh_seconds`` have passed (one caller at
        a time; a store error leaves the last values and is logged)."""
        if self.store is None or not self.online_lock.acquire(blocking=False):
            return
        try:
            if time.monotonic() - self.online_at < self.settings.online_refresh_seconds:
                return
            self.online_at = time.monotonic()
            report = self.online_report()
            self.metrics.set_online(report.to_dict()["versions"], report.events)
        except Exception:
            log.exception("online metrics: could not compute them from the store")
        finally:
            self.online_lock.release()

    async def open(self) -> None:
        """Open the store and start the batchers (the model is loaded separately)."""
        settings = self.settings
        store = await asyncio.to_thread(FeedbackStore, store_url(settings))
        self.store = store
        if settings.log_served:
            self.served_log = ServedLog(store, self.metrics)
        self.recommender = MicroBatcher(
            self.answer,
            max_batch=settings.batch_max,
            max_wait_ms=settings.batch_wait_ms,
            max_window_ms=settings.batch_window_ms,
            name="decode",
            on_batch=self._observe_batch,
        )
        self.feedback = MicroBatcher(
            store.add_feedback_many,
            max_batch=settings.feedback_batch_max,
            max_wait_ms=0.0,
            name="feedback",
        )
        await self.recommender.start()
        await self.feedback.start()

    async def close(self) -> None:
        """Cancel the background tasks, finish queued work, close the store."""
        for task in self.tasks:
            task.cancel()
        if self.recommender is not None:
            await self.recommender.stop()
        if self.feedback is not None:
            await self.feedback.stop()
        if self.served_log is not None:
            await asyncio.to_thread(self.served_log.close)
        if self.store is not None:
            await asyncio.to_thread(self.store.close)

    def _observe_batch(self, size: int, seconds: float) -> None:
        self.metrics.batch_size.observe(size)
        self.metrics.batch_seconds.observe(seconds)


def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.genrec
    return state


# The dependency endpoints declare to reach the running service.
State = Annotated[ServiceState, Depends(get_state)]


def store_url(settings: ServeSettings) -> str:
    """The feedback store's URL: ``--db``, or a SQLite file in the model folder."""
    if settings.db:
        return settings.db
    return default_sqlite_url(Path(settings.model_dir))


def ready_model(state: ServiceState) -> LoadedModel:
    """The model in use, or a 503 (with Retry-After) while it loads or if loading failed."""
    if not state.holder.ready:
        detail = state.load_error or "the model is still loading; retry shortly"
        raise HTTPException(503, detail, headers={"Retry-After": "2"})
    return state.holder.current


async def load_model(state: ServiceState) -> None:
    """Load the model off the event loop; a failure is kept for /readyz rather than raised."""
    try:
        loaded = await asyncio.to_thread(state.holder.load)
    except Exception as exc:
        state.load_error = f"the model could not be loaded: {exc}"
        log.exception("model load failed")
        return
    state.metrics.set_model(loaded.version)
    log.info("serving model %s from %s", loaded.version, loaded.path)
    if state.settings.ab:
        try:
            split = TrafficSplit.parse(state.settings.ab)
            root = Path(state.settings.model_dir)
            state.experiment = await asyncio.to_thread(start_experiment, split, root, loaded)
        except Exception as exc:
            state.load_error = f"the A/B candidate could not be loaded: {exc}"
            log.exception("A/B candidate load failed")
            return
        log.info("A/B test: %.0f%% of users get %s (%s)", 100 * split.share,
                 state.experiment.candidate.version, state.experiment.candidate.path)  # fmt: skip
        if state.settings.promote_on_win:
            state.tasks.append(asyncio.create_task(watch_experiment(state)))


async def swap_in_newest(state: ServiceState, force: bool = False) -> tuple[bool, str, str | None]:
    """Load the newest version off the event loop and swap it in; the one place that records a
    swap (metrics, log). Returns (swapped, version in use, version before); raises on failure."""
    swapped, version, before = await asyncio.to_thread(state.holder.reload, force)
    if swapped:
        state.metrics.reloads.inc()
        state.metrics.set_model(version)
        log.info("model %s -> %s", before, version)
    return swapped, version, before


async def poll_reload(state: ServiceState) -> None:
    """Pick up a newer version written to the model folder (reaches every worker process)."""
    while True:
        await asyncio.sleep(state.settings.reload_poll_seconds)
        if not state.holder.ready:
            continue
        try:
            await swap_in_newest(state)
        except Exception:
            log.exception("polling reload failed; still serving the old model")


async def watch_experiment(state: ServiceState) -> None:
    """Every ``online_refresh_seconds``, compare the A/B arms and act on ``promote_on_win``:
    promote a winner (it becomes ``CURRENT`` and everyone gets it), end a loser's test."""
    settings = state.settings
    while state.experiment is not None and not state.experiment.outcome:
        await asyncio.sleep(max(settings.online_refresh_seconds, 0.2))
        experiment = state.experiment
        if experiment is None or experiment.outcome or not settings.promote_on_win:
            continue
        try:
            assert state.store is not None
            found = await asyncio.to_thread(comparison, state.store,
                                            settings.online_window_hours, experiment)  # fmt: skip
            action = decide(found, settings.promote_on_win, settings.ab_min_lists,
                            settings.ab_margin)  # fmt: skip
            root = Path(settings.model_dir)
            blocked = why_not_promotable(experiment, root) if action == "promote" else None
            if action == "stop":
                experiment.outcome = f"stopped: the candidate lost ({found.verdict})"
            elif action == "promote" and blocked:
                experiment.outcome = f"won ({found.verdict}) but not promoted: {blocked}"
            elif action == "promote":
                await asyncio.to_thread(set_current, root, experiment.candidate.path.name)
                await swap_in_newest(state)
                experiment.outcome = f"promoted to CURRENT: {found.verdict}"
        except Exception:
            log.exception("A/B test: could not compare the arms; the test goes on")
            continue
        if experiment.outcome:
            log.info("A/B test %s: %s", experiment.split.candidate, experiment.outcome)
