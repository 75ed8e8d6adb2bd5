"""A/B serving: the candidate version beside the one in use, users split between them, and the
decision to promote the candidate or end the test (see :mod:`genrec.abtest`).

``genrec serve --ab v0004=20%`` loads version ``v0004`` of the model folder (or a saved model at
that path) as the candidate; the control is the version in use. Each answered query records its
arm with its list. With ``--promote-on-win`` a background task compares the arms from the store
every ``online_refresh_seconds``; a candidate that wins (or, with ``not-worse``, does not lose)
becomes ``CURRENT`` and every user gets it, provided the offline guard did not refuse it when it
was fine-tuned; a candidate that loses significantly ends the test.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from genrec.abtest import CANDIDATE, ArmComparison, TrafficSplit, compare_arms
from genrec.monitoring import online_metrics
from genrec.recommender import META_FILE, ModelDirError, read_model_meta
from genrec.serving.service import Answer, LoadedModel, Query
from genrec.store.database import FeedbackStore


@dataclass
class Experiment:
    """A running A/B test: the split, the candidate in memory, when it started."""

    split: TrafficSplit
    candidate: LoadedModel
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    outcome: str = ""  # why it ended ("" while it runs)

    def answer(self, control: LoadedModel, queries: Sequence[Query]) -> list[Answer]:
        """Each query answered by its arm's version; the answers name the arm."""
        arms = [self.split.arm_of(q.user_id) for q in queries]
        out: list[Answer | None] = [None] * len(queries)
        for model, in_arm in ((control, False), (self.candidate, True)):
            rows = [i for i, arm in enumerate(arms) if (arm == CANDIDATE) == in_arm]
            if rows:
                answers = model.answer([queries[i] for i in rows])
                for i, answer in zip(rows, answers, strict=True):
                    out[i] = dataclasses.replace(answer, arm=arms[i])
        return [a for a in out if a is not None]

    def describe(self) -> dict[str, Any]:
        return {"candidate": self.split.candidate, "candidate_version": self.candidate.version,
                "share": self.split.share, "started": self.started.isoformat(),
                "running": not self.outcome, "outcome": self.outcome}  # fmt: skip


def candidate_path(root: Path, name: str) -> Path:
    """The candidate's saved model: version ``name`` of the folder ``root``, or a path."""
    for path in (root / name, Path(name)):
        if (path / META_FILE).is_file():
            return path
    raise ModelDirError(
        f"--ab names '{name}', which is neither a version in {root} nor a saved model folder"
    )


def start_experiment(split: TrafficSplit, root: Path, control: LoadedModel) -> Experiment:
    """Load the candidate; it must differ from the version in use."""
    candidate = LoadedModel.load(candidate_path(root, split.candidate))
    if candidate.path.resolve() == control.path.resolve() or candidate.version == control.version:
        raise ModelDirError(f"the candidate '{split.candidate}' is the version already in use")
    return Experiment(split, candidate)


def comparison(store: FeedbackStore, window_hours: float, experiment: Experiment) -> ArmComparison:
    """The arms compared over the lists served since the test started."""
    served = store.served_frame(experiment.started)
    events = store.feedback_frame(experiment.started)
    window = timedelta(hours=window_hours)
    report = online_metrics(served, events, window=window, since=experiment.started)
    return compare_arms(report.arms)


def offline_guard_refused(path: Path) -> bool:
    """True if the candidate was fine-tuned and the offline guard refused it."""
    lineage = read_model_meta(path).get("fit_info", {}).get("lineage") or {}
    return lineage.get("promoted") is False


def why_not_promotable(experiment: Experiment, root: Path) -> str | None:
    """Why a winning candidate cannot become ``CURRENT`` of ``root`` (None: it can)."""
    path = experiment.candidate.path
    if offline_guard_refused(path):
        return "the offline guard refused this fine-tune"
    if path.parent.resolve() != root.resolve():
        return f"{path} is not a version of {root}"
    return None
