"""``POST /v1/admin/reload``: serve the newest model version without a restart;
``GET /v1/admin/online``: the online metrics per version."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter
from starlette.exceptions import HTTPException

from genrec.recommender import ModelDirError
from genrec.serving.experiment import comparison
from genrec.serving.schemas import ReloadOut
from genrec.serving.state import State, swap_in_newest

log = logging.getLogger("genrec.serving")
router = APIRouter(tags=["operations"])


@router.post("/v1/admin/reload", response_model=ReloadOut)
async def reload(state: State, force: bool = False) -> ReloadOut:
    """Load the newest model version from the model folder and swap it in; requests in
    flight finish on the old one. Nothing changes if the newest is already in use."""
    try:
        swapped, version, before = await swap_in_newest(state, force)
    except ModelDirError as exc:
        raise HTTPException(409, f"reload failed, still serving the old model: {exc}") from None
    except Exception as exc:
        log.exception("reload failed")
        raise HTTPException(
            409, f"reload failed, still serving the old model: {type(exc).__name__}"
        ) from None
    return ReloadOut(reloaded=swapped, model_version=version, previous_version=before)


@router.get("/v1/admin/online")
async def online(state: State) -> dict[str, Any]:
    """The online metrics per model version over the last ``online_days`` (acceptance with its
    95% interval, hits per list, CTR by position, coverage, novelty; and the same per time
    bucket), as ``genrec report --json`` prints them; during an A/B test, ``ab``: the test and
    its arms compared since it started."""
    if state.store is None:
        raise HTTPException(503, "the feedback store is not open yet")
    report = await asyncio.to_thread(state.online_report)
    out = report.to_dict()
    experiment = state.experiment
    if experiment is not None:
        assert state.store is not None
        found = await asyncio.to_thread(comparison, state.store,
                                        state.settings.online_window_hours, experiment)  # fmt: skip
        out["ab"] = {**experiment.describe(), "comparison": found.to_dict()}
    return out
