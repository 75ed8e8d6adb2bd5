"""Online learning: the service fine-tunes its model on the feedback it collects, then serves it.

After ``learn_every`` new feedback events, or every ``learn_every_minutes`` that saw at least one,
:func:`genrec.lifecycle.finetune_version` runs on the events received since the last run, in a
spawned child process at low priority with one thread, so serving keeps its memory, its event
loop and the CPU it needs. A version the guard promotes (validation on the dataset the model was
trained on) is picked up by the same swap as ``POST /v1/admin/reload``.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
from multiprocessing.connection import Connection
from typing import Any

from genrec.serving.state import ServiceState, store_url, swap_in_newest

log = logging.getLogger("genrec.serving")
CHILD_NAME = "genrec-finetune"  # the child process's name (benchmarks/serving.py looks for it)


async def learn_loop(state: ServiceState) -> None:
    """Watch the feedback count and fine-tune when it is time (see the module notes)."""
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
        log.info("online learning: %d new events, fine-tuning", new)
        ok, summary = await finetune_in_child(
            {
                "model_dir": str(settings.model_dir),
                "feedback": store_url(settings),
                "since": since,
                "config_file": None
                if settings.learn_config is None
                else str(settings.learn_config),
            }
        )
        seen = count  # a failed run is not retried on the same events
        if not ok:
            state.metrics.finetunes.labels("failed").inc()
            log.error("online fine-tune failed: %s", summary)
            continue
        since = started
        state.metrics.finetunes.labels("ok").inc()
        log.info("online fine-tune: %s", summary)
        try:
            await swap_in_newest(state)
        except Exception:
            log.exception("reload after online fine-tune failed; still serving the old model")


async def finetune_in_child(job: dict[str, Any]) -> tuple[bool, str]:
    """Run :func:`finetune_job` in a spawned child; (succeeded, what it did or why it failed).
    Cancelling (the server stopping) kills the child: it must not outlive the server."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=finetune_job, args=(sender, job), name=CHILD_NAME)
    child.start()
    sender.close()  # the child holds the only sending end: its exit ends the pipe
    try:
        return await asyncio.to_thread(_result, receiver, child)
    except asyncio.CancelledError:
        child.kill()
        await asyncio.to_thread(child.join)
        raise
    finally:
        receiver.close()


def _result(receiver: Connection, child: multiprocessing.process.BaseProcess) -> tuple[bool, str]:
    try:
        ok, summary = receiver.recv()
    except EOFError:  # the child died before answering (killed, out of memory, ...)
        ok, summary = False, "the fine-tune process ended without a result"
    child.join()
    if child.exitcode not in (0, None) and ok:
        ok, summary = False, f"the fine-tune process exited with status {child.exitcode}"
    return bool(ok), str(summary)


def finetune_job(sender: Connection, job: dict[str, Any]) -> None:
    """The child's work: lower priority and one thread, then a guarded fine-tune into the next
    version; sends (succeeded, summary) back."""
    os.nice(10)
    import torch

    from genrec.config import load as load_config
    from genrec.learning import FinetuneConfig
    from genrec.lifecycle import finetune_version

    torch.set_num_threads(1)
    try:
        config = load_config(FinetuneConfig, job["config_file"])
        outcome = finetune_version(
            job["model_dir"], job["feedback"], since=job["since"], config=config
        )
        verdict = "promoted" if outcome.promoted else "NOT promoted"
        sender.send((True, f"wrote {outcome.path}: {verdict}; {outcome.promotion.reason}"))
    except Exception as exc:
        sender.send((False, f"{type(exc).__name__}: {exc}"))
    finally:
        sender.close()
