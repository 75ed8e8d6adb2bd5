"""What every trained model shares: device choice, seeding, training windows (and a random order
for simultaneous interactions), and the epoch loop with early stopping on validation NDCG@10
(resumable from a checkpoint)."""

from __future__ import annotations

import contextlib
import copy
import json
import random
import resource
import shutil
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from genrec import distributed

if TYPE_CHECKING:
    from genrec.data.split import SequenceSplit


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available (checked only when called, never at import)."""
    if name == "auto":
        if torch.cuda.is_available():  # under torchrun, each rank its own GPU
            return torch.device("cuda", distributed.current().local_rank)
        return torch.device("cpu")
    return torch.device(name)


def init_weights(module: nn.Module) -> None:
    """Normal(0, 0.02) for linear and embedding weights, zero biases and padding rows
    (``module.apply(init_weights)``)."""
    if isinstance(module, nn.Linear | nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    if isinstance(module, nn.Embedding) and module.padding_idx is not None:
        with torch.no_grad():
            module.weight[module.padding_idx].zero_()


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a generator for this run's own shuffling."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def simultaneous_order(times: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A permutation of ``range(len(times))`` that puts each run of equal ``times`` in a random
    order (``sequence[order]`` is the reordered sequence).

    Interactions logged at the same second have no order of their own: the log's order among
    them is an accident of export. Training on a fresh random order each epoch stops a model
    from learning that accident. Runs keep their place; only positions inside a run move, so
    without equal neighbouring times the order is the identity.
    """
    run = np.r_[0, np.cumsum(np.diff(times) != 0)] if len(times) else np.zeros(0, np.int64)
    return np.lexsort((rng.random(len(times)), run))  # by run, randomly within a run


def epoch_orders(split: SequenceSplit, seed: int, epoch: int) -> list[np.ndarray] | None:
    """Each training sequence's :func:`simultaneous_order` for ``epoch``, in ``split.train``'s
    user order; the same seed and epoch give the same orders (a resumed run replays them).
    None when the split has no timestamps."""
    if split.train_times is None:
        return None
    rng = np.random.default_rng((seed, epoch))
    return [simultaneous_order(split.train_times[user], rng) for user in split.train]


def _window_spans(n: int, max_len: int, stride: int) -> list[tuple[int, int, int]]:
    """(start, end, new) of each window over ``n`` (input, next item) pairs: the window reads
    pairs [start, end); pairs [new, end) are the ones no earlier window covered. No pairs, no
    windows."""
    if n < 1:
        return []
    starts = [0] if n <= max_len else list(range(0, n - max_len, stride)) + [n - max_len]
    spans, covered = [], 0  # pairs [0, covered) are already in a window
    for start in starts:
        end = min(start + max_len, n)
        spans.append((start, end, max(covered, start)))
        covered = end
    return spans


def training_windows(
    sequences: Sequence[np.ndarray], max_len: int, stride: int
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs [W, T] (1-based item ids, 0 = pad) and targets [W, T] (catalog index, -100 = none).

    Each window reads up to ``max_len`` consecutive items and predicts the item after each; a
    target already predicted in an earlier window of the same sequence is set to -100, so every
    target counts once per epoch and, past the first window, has at least
    ``max_len - stride`` items of context.
    """
    inputs: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    for seq in sequences:
        n = len(seq) - 1  # number of (input, next item) pairs
        x, y = seq[:-1] + 1, seq[1:]
        for start, end, new in _window_spans(n, max_len, stride):
            row_x = np.zeros(max_len, dtype=np.int64)
            row_y = np.full(max_len, -100, dtype=np.int64)
            row_x[: end - start] = x[start:end]
            row_y[new - start : end - start] = y[new:end]
            inputs.append(row_x)
            targets.append(row_y)
    if not inputs:
        return np.zeros((0, max_len), dtype=np.int64), np.zeros((0, max_len), dtype=np.int64)
    return np.stack(inputs), np.stack(targets)


def later_targets(
    sequences: Sequence[np.ndarray], max_len: int, stride: int, horizon: int
) -> np.ndarray:
    """The items 2 .. ``horizon`` + 1 steps after each input: [W, T, horizon], aligned with
    :func:`training_windows` (same windows, same positions; -100 where the sequence has ended
    or the position is not a target)."""
    rows: list[np.ndarray] = []
    for seq in sequences:
        n = len(seq) - 1
        ahead = np.full((max(n, 0), horizon), -100, dtype=np.int64)  # [n, H]
        for k in range(horizon):
            later = seq[2 + k :]
            ahead[: len(later), k] = later
        for start, end, new in _window_spans(n, max_len, stride):
            row = np.full((max_len, horizon), -100, dtype=np.int64)
            row[new - start : end - start] = ahead[new:end]
            rows.append(row)
    if not rows:
        return np.zeros((0, max_len, horizon), dtype=np.int64)
    return np.stack(rows)


def next_items_loss(
    logits: torch.Tensor, targets: torch.Tensor, later_weight: float, smoothing: float = 0.0
) -> torch.Tensor:
    """Mean cross-entropy over the catalog; logits [M, N], targets [M] (the next item) or
    [M, 1 + K] (the next item, then the K after it, -100 where the sequence ended).

    With later items, each target is a distribution: the next item keeps ``1 - later_weight``
    and the later items that exist share ``later_weight``; a position with none left trains on
    the next item alone."""
    if targets.dim() == 1:
        return F.cross_entropy(logits, targets, label_smoothing=smoothing)
    nxt = F.cross_entropy(logits, targets[:, 0], reduction="none", label_smoothing=smoothing)
    log_p = F.log_softmax(logits, dim=-1)  # [M, N]
    later = targets[:, 1:]  # [M, K]
    found = later >= 0  # [M, K]
    nll = -log_p.gather(1, later.clamp(min=0)) * found  # [M, K]
    count = found.sum(1)  # [M]
    share = later_weight * (count > 0)  # [M]
    later_nll = nll.sum(1) / count.clamp(min=1)  # [M]
    return ((1.0 - share) * nxt + share * later_nll).mean()


class LoopConfig(Protocol):
    """The config fields a :class:`WindowTrainer` reads (SASRec's and the generator's)."""

    @property
    def batch_size(self) -> int: ...
    @property
    def shuffle_ties(self) -> bool: ...
    @property
    def accumulate(self) -> int: ...
    @property
    def precision(self) -> str: ...


class WindowTrainer(ABC):
    """A training run over windows of every user's training sequence (:func:`training_windows`):
    each epoch, simultaneous items are reordered by (seed, epoch) when shuffling, and the windows
    are visited in a random order from the run's generator, one optimizer step per batch.

    Under torchrun every rank draws the same order and takes its share of each batch (see
    :mod:`genrec.distributed`); ``accumulate`` splits a rank's share into that many
    micro-batches whose gradients add up before the step. Either way the step is the gradient of
    the whole batch's mean loss, so ``batch_size`` means the same with any number of processes.

    Subclasses build the epoch's tensors in :meth:`load_epoch` (at least ``self.inputs`` [W, T]),
    the batch's tensors in :meth:`batch`, and call :meth:`set_objective` with the module whose
    forward returns a batch's mean loss."""

    inputs: torch.Tensor

    def __init__(
        self, split: SequenceSplit, config: LoopConfig, *, seed: int, generator: torch.Generator
    ) -> None:
        self.split = split
        self.bf16 = config.precision == "bf16"  # forward and loss under bf16 autocast
        self.seed = seed
        self.generator = generator
        self.batch_size = config.batch_size
        self.accumulate = config.accumulate
        self.shuffling = config.shuffle_ties and split.train_times is not None
        self.sharding = distributed.current()
        self.schedule: torch.optim.lr_scheduler.LRScheduler | None = None

    def set_objective(
        self,
        objective: nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        find_unused_parameters: bool = False,
    ) -> None:
        """Train ``objective`` (forward(**batch) -> mean loss) with ``optimizer``; wrapped in
        DistributedDataParallel when there are several processes."""
        self.optimizer = optimizer
        self.objective: nn.Module = objective
        device = next(objective.parameters()).device
        self.device_type = device.type
        if self.sharding.active:
            self.objective = DistributedDataParallel(
                objective,
                device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=find_unused_parameters,
            )

    def epoch_sequences(self, epoch: int) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
        """The training sequences in this epoch's order, and the orders (None: file order)."""
        sequences = list(self.split.train.values())
        orders = epoch_orders(self.split, self.seed, epoch) if self.shuffling else None
        if orders is None:
            return sequences, None
        return [s[o] for s, o in zip(sequences, orders, strict=True)], orders

    @abstractmethod
    def load_epoch(self, epoch: int) -> None:
        """Build the windows of ``epoch`` (1-based)."""

    @abstractmethod
    def batch(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        """The tensors of windows ``rows`` (one row each, on the CPU), as the objective takes
        them; drawn for the whole batch on every rank, so that random draws agree."""

    @abstractmethod
    def targets_in(self, batch: dict[str, torch.Tensor]) -> int:
        """How many target positions ``batch`` holds (the objective's loss is their mean)."""

    def step(self, rows: torch.Tensor) -> float:
        """One optimizer step on the windows ``rows``; returns this rank's part of the batch's
        mean loss (the whole of it with one process)."""
        batch = self.batch(rows)
        total = max(self.targets_in(batch), 1)
        chunks = [c for c in self.sharding.share(len(rows)).tensor_split(self.accumulate) if len(c)]
        self.optimizer.zero_grad(set_to_none=True)
        done = 0.0
        for i, chunk in enumerate(chunks or [torch.zeros(1, dtype=torch.long)]):
            part = {name: value[chunk] for name, value in batch.items()}
            # A rank with no window in this batch still joins the gradient exchange, at weight 0.
            weight = self.targets_in(part) / total if chunks else 0.0
            last = i == max(len(chunks), 1) - 1
            skip_sync = isinstance(self.objective, DistributedDataParallel) and not last
            with self.objective.no_sync() if skip_sync else contextlib.nullcontext():  # type: ignore[operator]
                with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.bf16):
                    loss = self.objective(**part)
                (loss * (weight * self.sharding.world)).backward()
            done += float(loss.detach()) * weight
        self.optimizer.step()
        if self.schedule is not None:
            self.schedule.step()
        return done

    def run_epoch(self, epoch: int) -> float:
        """Train one epoch (the windows of epoch 1 are loaded by the subclass's constructor);
        returns the mean loss over its batches (over all ranks)."""
        if self.shuffling and epoch > 1:
            self.load_epoch(epoch)
        order = torch.randperm(len(self.inputs), generator=self.generator)  # [W]
        total, batches = 0.0, 0
        for begin in range(0, len(order), self.batch_size):
            total += self.step(order[begin : begin + self.batch_size])
            batches += 1
        if self.sharding.active:
            total = self.sharding.all_reduce_sum([total])[0]
        return total / max(batches, 1)


def process_info(sharding: distributed.Sharding) -> dict[str, object]:
    """For ``fit_info``: how many training processes ran, and each one's peak memory (MB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        gpu = torch.cuda.max_memory_allocated() / 2**20
    else:
        gpu = None
    peaks = sharding.all_gather({"cpu_peak_mb": round(peak, 1), "gpu_peak_mb": gpu})
    return {"processes": sharding.world, "memory_per_process": peaks}


@dataclass
class LoopState:
    """Progress of an early-stopped run; saved in checkpoints so a run can resume."""

    epoch: int = 0
    best_ndcg: float = -1.0
    best_epoch: int = 0
    stale: int = 0
    train_seconds: float = 0.0
    curve: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "epoch": self.epoch,
            "best_ndcg": self.best_ndcg,
            "best_epoch": self.best_epoch,
            "stale": self.stale,
            "train_seconds": self.train_seconds,
            "curve": self.curve,
        }


@dataclass(frozen=True)
class LoopSettings:
    max_epochs: int
    patience: int
    eval_every: int
    max_train_seconds: float = 0.0


def early_stopping_loop(
    module: nn.Module,
    run_epoch: Callable[[int], float],
    validate: Callable[[], float],
    settings: LoopSettings,
    *,
    desc: str,
    progress: bool,
    state: LoopState | None = None,
    best_weights: dict[str, torch.Tensor] | None = None,
    on_evaluated: Callable[[LoopState, dict[str, torch.Tensor]], None] | None = None,
) -> LoopState:
    """Run epochs until validation NDCG@10 stops improving; leave the best weights loaded.

    ``run_epoch(epoch)`` trains one epoch and returns its mean loss; ``validate()`` returns
    validation NDCG@10. ``on_evaluated`` is called after every validation (for checkpoints).
    """
    state = state or LoopState()
    best = best_weights if best_weights is not None else copy.deepcopy(module.state_dict())
    bar = tqdm(
        total=settings.max_epochs,
        initial=state.epoch,
        desc=desc,
        unit="epoch",
        disable=not (progress and distributed.current().main),
    )
    while state.epoch < settings.max_epochs and state.stale < settings.patience:
        started = time.perf_counter()
        module.train()
        loss = run_epoch(state.epoch + 1)
        state.train_seconds += time.perf_counter() - started
        state.epoch += 1
        postfix = {"loss": round(loss, 4)}
        out_of_time = 0.0 < settings.max_train_seconds <= state.train_seconds
        if (
            state.epoch % settings.eval_every == 0
            or state.epoch == settings.max_epochs
            or out_of_time
        ):
            module.eval()
            with torch.no_grad():
                ndcg = validate()
            state.curve.append(
                {
                    "epoch": state.epoch,
                    "seconds": round(state.train_seconds, 3),
                    "loss": loss,
                    "valid_ndcg@10": ndcg,
                }
            )
            postfix["valid_ndcg@10"] = round(ndcg, 4)
            if ndcg > state.best_ndcg:
                state.best_ndcg, state.best_epoch, state.stale = ndcg, state.epoch, 0
                best = copy.deepcopy(module.state_dict())
            else:
                state.stale += 1
            if on_evaluated is not None:
                on_evaluated(state, best)
        bar.set_postfix(postfix)
        bar.update(1)
        if out_of_time:
            break
    bar.close()
    module.load_state_dict(best)
    module.eval()
    return state


# ------------------------------------------------------------------------- checkpoints
CHECKPOINT_DIR = "checkpoint"


def save_checkpoint(
    root: Path, net: nn.Module, state: LoopState, best: dict[str, torch.Tensor]
) -> None:
    """Write ``root/checkpoint`` (current and best weights, loop state), replacing the last one
    only once the new one is complete. Written after each validation (by rank 0 alone under
    torchrun), so an interrupted run resumes at the epoch where it stopped, with the same tie
    orders per epoch (the window order and the optimizer's moments start afresh)."""
    target = root / CHECKPOINT_DIR
    tmp = target.with_name(CHECKPOINT_DIR + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(
        {k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp / "current.safetensors")
    )
    save_file({k: v.contiguous() for k, v in best.items()}, str(tmp / "best.safetensors"))
    (tmp / "loop_state.json").write_text(json.dumps(state.to_dict()))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)


def load_checkpoint(
    root: Path, net: nn.Module
) -> tuple[LoopState | None, dict[str, torch.Tensor] | None]:
    """Load ``root/checkpoint``'s current weights into ``net``; returns the loop state and the
    best weights, or (None, None) when there is no checkpoint."""
    source = root / CHECKPOINT_DIR
    if not (source / "loop_state.json").is_file():
        return None, None
    saved = json.loads((source / "loop_state.json").read_text())
    net.load_state_dict(load_file(str(source / "current.safetensors")))
    return LoopState(**saved), load_file(str(source / "best.safetensors"))
