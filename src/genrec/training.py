"""What every trained model shares: device choice, seeding, training windows (and a random order
for simultaneous interactions), and the epoch of windows (:class:`WindowTrainer`). The loop of
epochs with early stopping is in :mod:`genrec.early_stopping`."""

from __future__ import annotations

import contextlib
import random
import resource
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from genrec import distributed
from genrec.losses import draw_negatives, negatives_for

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


@contextlib.contextmanager
def deterministic_algorithms() -> Iterator[None]:
    """Deterministic torch kernels for the block: the same seed then gives the same weights in
    any process. On CPU with several threads, the backward of advanced indexing
    (``scores[rows, items]``) adds gradients with ``index_put_(accumulate=True)`` in thread
    order otherwise (fine-tunes differed by up to 7e-5 per weight between two processes)."""
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)  # warn, not fail, where none exist
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


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


def _windows(
    sequences: Sequence[np.ndarray], max_len: int, stride: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every window over every sequence's (input, next item) pairs, as arrays over windows:
    the flat log (the sequences end to end) [L], each window's offset of its sequence in it,
    its sequence's pair count, and (start, new) [W]: the window reads pairs [start, start +
    max_len) of its sequence (fewer where the sequence ends); pairs from ``new`` on are the ones
    no earlier window covered. Windows start every ``stride`` pairs, the last one ending with
    the sequence; a sequence of n <= max_len pairs has one window, one of no pairs none."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    flat = np.concatenate(sequences).astype(np.int64) if len(lengths) else np.zeros(0, np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    pairs = np.maximum(lengths - 1, 0)  # [S]
    count = np.where(pairs > max_len, -(-(pairs - max_len) // stride) + 1, (pairs > 0) * 1)
    seq = np.repeat(np.arange(len(lengths)), count)  # [W]
    j = np.arange(len(seq)) - np.repeat(np.cumsum(count) - count, count)  # window's number
    last = j == count[seq] - 1
    start = np.where(last & (pairs[seq] > max_len), pairs[seq] - max_len, j * stride)
    # the windows before this one cover pairs up to (previous start) + max_len
    previous = np.where(j == 0, 0, np.minimum((j - 1) * stride + max_len, pairs[seq]))
    new = np.maximum(previous, start)
    return flat, offsets[seq], pairs[seq], start, new


def training_windows(
    sequences: Sequence[np.ndarray], max_len: int, stride: int
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs [W, T] (1-based item ids, 0 = pad) and targets [W, T] (catalog index, -100 = none).

    Each window reads up to ``max_len`` consecutive items and predicts the item after each; a
    target already predicted in an earlier window of the same sequence is set to -100, so every
    target counts once per epoch and, past the first window, has at least
    ``max_len - stride`` items of context. Array work over the whole log: no object per window.
    """
    flat, offset, pairs, start, new = _windows(sequences, max_len, stride)
    pos = start[:, None] + np.arange(max_len)[None, :]  # [W, T] pair index in the sequence
    reads = pos < pairs[:, None]
    at = offset[:, None] + np.where(reads, pos, 0)
    inputs = np.where(reads, flat[at] + 1, 0) if len(flat) else np.zeros(pos.shape, np.int64)
    fresh = reads & (pos >= new[:, None])
    targets = np.where(fresh, flat[np.where(fresh, at + 1, 0)] if len(flat) else 0, -100)
    return inputs.astype(np.int64), targets.astype(np.int64)


def later_targets(
    sequences: Sequence[np.ndarray], max_len: int, stride: int, horizon: int
) -> np.ndarray:
    """The items 2 .. ``horizon`` + 1 steps after each input: [W, T, horizon], aligned with
    :func:`training_windows` (same windows, same positions; -100 where the sequence has ended
    or the position is not a target)."""
    flat, offset, pairs, start, new = _windows(sequences, max_len, stride)
    pos = start[:, None] + np.arange(max_len)[None, :]  # [W, T]
    fresh = (pos < pairs[:, None]) & (pos >= new[:, None])
    ahead = pos[..., None] + 2 + np.arange(horizon)[None, None, :]  # [W, T, H] in the sequence
    exists = fresh[..., None] & (ahead <= pairs[:, None, None])  # sequence length = pairs + 1
    at = np.where(exists, offset[:, None, None] + ahead, 0)
    if not len(flat):
        return np.full((len(pos), max_len, horizon), -100, dtype=np.int64)
    return np.where(exists, flat[at], -100).astype(np.int64)


class LoopConfig(Protocol):
    """The config fields a :class:`WindowTrainer` reads (SASRec's and the generator's)."""

    @property
    def batch_size(self) -> int: ...
    @property
    def negatives(self) -> int | None: ...
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
        # Items a sampled softmax draws per step (0: full softmax); see negatives_for.
        self.negatives = negatives_for(config.negatives, split.n_items)
        self.n_items = split.n_items

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
                # the models' buffers are fixed tables (codes, item text vectors): nothing to
                # send from rank 0 before every step
                broadcast_buffers=False,
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
        shared = {}  # the same for every micro-batch and rank
        if self.negatives:
            shared["negatives"] = draw_negatives(self.n_items, self.negatives, self.generator)
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
                    loss = self.objective(**part, **shared)
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
