"""Leave-one-out split by time: per user, last item = test, second-to-last = validation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from genrec.data.schema import Dataset

Part = Literal["valid", "test"]


@dataclass(frozen=True)
class SequenceSplit:
    """Per-user sequences split by time.

    ``train`` holds every user's training prefix (users with fewer than 3 interactions keep all
    of them for training and are not evaluated). ``users`` are the evaluated users, aligned with
    ``valid_targets`` and ``test_targets``. ``train_times`` holds the timestamps of ``train``'s
    items (None for a split built without them); items with equal timestamps are simultaneous,
    and their order in ``train`` is only the file's.
    """

    n_items: int
    train: dict[str, np.ndarray]
    users: list[str]
    valid_targets: np.ndarray  # [U]
    test_targets: np.ndarray  # [U]
    valid_requests: list[str]
    test_requests: list[str]
    train_requests: dict[str, list[str]]
    train_times: dict[str, np.ndarray] | None = None

    def __post_init__(self) -> None:
        if self.train_times is None:
            return
        for user, seq in self.train.items():
            times = self.train_times.get(user)
            if times is None or len(times) != len(seq):
                got = "none" if times is None else str(len(times))
                raise ValueError(
                    f"train_times for user {user!r} has {got} timestamps but the user has "
                    f"{len(seq)} training items; a split that changes train must change "
                    "train_times with it (or set it to None)"
                )

    def histories(self, part: Part) -> list[np.ndarray]:
        """The input sequence for each evaluated user: train prefix (valid) or plus the
        validation item (test)."""
        if part == "valid":
            return [self.train[u] for u in self.users]
        if part == "test":
            return [
                np.append(self.train[u], self.valid_targets[i]) for i, u in enumerate(self.users)
            ]
        raise ValueError(f"unknown split part {part!r}; expected 'valid' or 'test'")

    def targets(self, part: Part) -> np.ndarray:
        if part == "valid":
            return self.valid_targets
        if part == "test":
            return self.test_targets
        raise ValueError(f"unknown split part {part!r}; expected 'valid' or 'test'")

    def requests(self, part: Part) -> list[str]:
        return self.valid_requests if part == "valid" else self.test_requests

    def train_interactions(self) -> int:
        return int(sum(len(s) for s in self.train.values()))


def leave_one_out(dataset: Dataset, min_length: int = 3) -> SequenceSplit:
    """Split each user's time-ordered sequence (ties broken by file order)."""
    if min_length < 3:
        raise ValueError("min_length must be at least 3 (train, validation and test items)")
    sequences = dataset.sequences()
    all_requests = dataset.requests()
    all_times = dataset.sequence_times()
    train_times: dict[str, np.ndarray] = {}
    train: dict[str, np.ndarray] = {}
    train_requests: dict[str, list[str]] = {}
    users: list[str] = []
    valid_targets: list[int] = []
    test_targets: list[int] = []
    valid_requests: list[str] = []
    test_requests: list[str] = []
    for user, seq in sequences.items():
        reqs = all_requests[user]
        if len(seq) < min_length:
            train[user] = seq
            train_requests[user] = reqs
            train_times[user] = all_times[user]
            continue
        train[user] = seq[:-2]
        train_times[user] = all_times[user][:-2]
        train_requests[user] = reqs[:-2]
        users.append(user)
        valid_targets.append(int(seq[-2]))
        test_targets.append(int(seq[-1]))
        valid_requests.append(reqs[-2])
        test_requests.append(reqs[-1])
    return SequenceSplit(
        n_items=len(dataset.catalog),
        train=train,
        users=users,
        valid_targets=np.array(valid_targets, dtype=np.int64),
        test_targets=np.array(test_targets, dtype=np.int64),
        valid_requests=valid_requests,
        test_requests=test_requests,
        train_requests=train_requests,
        train_times=train_times,
    )
