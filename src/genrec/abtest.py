"""A/B tests between model versions: a stable split of users, the arms compared, a decision.

A :class:`TrafficSplit` sends a fixed share of users to the candidate version by a hash of the
user id and the candidate's name: a user stays in one arm for the whole test (across requests,
processes and restarts), and a new candidate reshuffles users. Requests without a user id are
not in the test: they get the control version and their lists record no arm.

:func:`compare_arms` compares the arms' acceptance (the share of served lists answered by a
positive event, as :mod:`genrec.monitoring` counts it): each arm's Wilson interval, the
difference with its 95% interval, and a two-sided two-proportion z-test. :func:`decide` turns
that into an action: promote the candidate when it wins (``policy="win"``: significantly better)
or does not lose (``policy="not-worse"``: the difference's lower bound above ``-margin``), stop
the test when it loses, wait while either arm has fewer than ``min_lists`` lists. Looking
again and again at a running test makes a chance "win" likelier than ``alpha`` says: keep
``min_lists`` high (every look is at least that much data).
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from genrec.monitoring import wilson

CONTROL, CANDIDATE = "control", "candidate"
POLICIES = ("win", "not-worse")


@dataclass(frozen=True)
class TrafficSplit:
    """``share`` of users (by a stable hash) see ``candidate``; the rest the control."""

    candidate: str
    share: float

    def __post_init__(self) -> None:
        if not 0.0 < self.share < 1.0:
            raise ValueError(f"the candidate's share must be between 0% and 100%, got {self.share}")
        if not self.candidate:
            raise ValueError("the candidate version is empty")

    @classmethod
    def parse(cls, text: str) -> TrafficSplit:
        """``CANDIDATE=20%`` (or ``=0.2``): a version of the model folder and its share."""
        match = re.fullmatch(r"\s*([^=\s][^=]*?)\s*=\s*([0-9.]+)\s*(%?)\s*", text)
        if match is None:
            raise ValueError(f"--ab takes CANDIDATE=SHARE, e.g. v0003=20%; got {text!r}")
        name, number, percent = match.groups()
        try:
            share = float(number) / (100.0 if percent else 1.0)
        except ValueError:
            raise ValueError(f"--ab: {number!r} is not a number") from None
        return cls(name, share)

    def arm_of(self, user_id: str | None) -> str | None:
        """The user's arm (None without a user id: not in the test)."""
        if user_id is None:
            return None
        digest = hashlib.sha256(f"genrec-ab\0{self.candidate}\0{user_id}".encode()).digest()
        return CANDIDATE if int.from_bytes(digest[:8], "big") / 2.0**64 < self.share else CONTROL


@dataclass(frozen=True)
class ArmComparison:
    """The two arms' acceptance and how they differ (candidate minus control)."""

    control_lists: int
    control_accepted: int
    candidate_lists: int
    candidate_accepted: int
    difference: float
    low: float
    high: float
    p_value: float
    alpha: float = 0.05

    @property
    def control(self) -> float:
        return self.control_accepted / self.control_lists if self.control_lists else 0.0

    @property
    def candidate(self) -> float:
        return self.candidate_accepted / self.candidate_lists if self.candidate_lists else 0.0

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    @property
    def verdict(self) -> str:
        if not self.control_lists or not self.candidate_lists:
            return "no lists in one of the arms yet"
        if not self.significant:
            return f"no significant difference (p = {self.p_value:.3f})"
        better = "better" if self.difference > 0 else "worse"
        return f"the candidate is significantly {better} (p = {self.p_value:.3g})"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        ci = {CONTROL: wilson(self.control_accepted, self.control_lists),
              CANDIDATE: wilson(self.candidate_accepted, self.candidate_lists)}  # fmt: skip
        out.update({"control_acceptance": self.control, "candidate_acceptance": self.candidate,
                    "control_interval": ci[CONTROL], "candidate_interval": ci[CANDIDATE],
                    "significant": self.significant, "verdict": self.verdict})  # fmt: skip
        return out

    def text(self) -> str:
        lo_c, hi_c = wilson(self.control_accepted, self.control_lists)
        lo_t, hi_t = wilson(self.candidate_accepted, self.candidate_lists)
        return "\n".join([
            f"control    {self.control_lists:>8,} lists  acceptance {self.control:.3f} "
            f"({lo_c:.3f}-{hi_c:.3f})",
            f"candidate  {self.candidate_lists:>8,} lists  acceptance {self.candidate:.3f} "
            f"({lo_t:.3f}-{hi_t:.3f})",
            f"difference {self.difference:+.3f} (95% CI {self.low:+.3f} to {self.high:+.3f}): "
            f"{self.verdict}",
        ])  # fmt: skip


def compare_arms(arms: pd.DataFrame, alpha: float = 0.05) -> ArmComparison:
    """Compare the arms of :attr:`genrec.monitoring.OnlineReport.arms` (rows per arm with
    ``lists`` and ``accepted``)."""
    totals: dict[str, tuple[int, int]] = {}
    if len(arms):
        sums = arms.groupby("arm")[["lists", "accepted"]].sum()
        totals = {str(a): (int(n), int(k)) for a, n, k in sums.itertuples()}

    def get(arm: str) -> tuple[int, int]:
        return totals.get(arm, (0, 0))

    n0, a0 = get(CONTROL)
    n1, a1 = get(CANDIDATE)
    if not n0 or not n1:
        return ArmComparison(n0, a0, n1, a1, 0.0, 0.0, 0.0, 1.0, alpha)
    p0, p1 = a0 / n0, a1 / n1
    diff = p1 - p0
    se = math.sqrt(p0 * (1 - p0) / n0 + p1 * (1 - p1) / n1)  # for the interval
    pooled = (a0 + a1) / (n0 + n1)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n0 + 1 / n1))  # under "no difference"
    z = diff / se0 if se0 > 0 else 0.0
    p_value = math.erfc(abs(z) / math.sqrt(2))
    return ArmComparison(n0, a0, n1, a1, diff, diff - 1.96 * se, diff + 1.96 * se, p_value, alpha)


def decide(comparison: ArmComparison, policy: str, min_lists: int, margin: float = 0.01) -> str:
    """``"promote"``, ``"stop"`` (the candidate lost) or ``"wait"``."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}; got {policy!r}")
    if min(comparison.control_lists, comparison.candidate_lists) < min_lists:
        return "wait"
    if comparison.significant and comparison.difference < 0:
        return "stop"
    if policy == "win":
        return "promote" if comparison.significant and comparison.difference > 0 else "wait"
    return "promote" if comparison.low > -margin else "wait"
