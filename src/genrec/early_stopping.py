"""The loop of epochs with early stopping on validation NDCG@10 that every trained model shares,
optionally over an average of the weights (:class:`WeightAverage`), and its checkpoints (a run
resumes where it stopped)."""

from __future__ import annotations

import contextlib
import copy
import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from genrec import distributed
from genrec.training import deterministic_algorithms


@dataclass
class LoopState:
    """Progress of an early-stopped run; saved in checkpoints so a run can resume."""

    epoch: int = 0
    best_ndcg: float = -1.0  # validation NDCG@10 of the kept weights
    best_epoch: int = 0
    best_score: float = -1.0  # the stopping criterion there (LoopSettings.smoothing)
    stale: int = 0
    train_seconds: float = 0.0
    curve: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "epoch": self.epoch,
            "best_ndcg": self.best_ndcg,
            "best_epoch": self.best_epoch,
            "best_score": self.best_score,
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
    # Validate and keep an exponential average of the weights over epochs, not the last
    # epoch's: after each epoch, average = average_decay x average + (1 - average_decay) x
    # weights (0: off). Training itself continues from the raw weights.
    average_decay: float = 0.0
    # Stop, and keep weights, by the mean validation NDCG@10 of the last ``smoothing``
    # evaluations (fewer at the start; 1: each alone). The weights kept are the last of the best
    # run of evaluations: a lone spike of the noisy validation score is not taken for the best.
    smoothing: int = 1


class WeightAverage:
    """An exponential moving average of a module's floating-point weights, taken at epoch ends
    and starting from the first epoch's (the rest, e.g. integer buffers, is copied)."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.decay = decay
        self.weights = {k: v.detach().clone() for k, v in module.state_dict().items()}
        self.updates = 0

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        for name, value in module.state_dict().items():
            if value.is_floating_point() and self.updates > 0:
                self.weights[name].lerp_(value, 1.0 - self.decay)
            else:
                self.weights[name].copy_(value)
        self.updates += 1

    @contextlib.contextmanager
    def applied(self, module: nn.Module) -> Iterator[None]:
        """The module holds the averaged weights inside the block, its own after it."""
        own = copy.deepcopy(module.state_dict())
        module.load_state_dict(self.weights)
        try:
            yield
        finally:
            module.load_state_dict(own)


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
    """Run epochs until validation NDCG@10 (its mean over the last ``settings.smoothing``
    evaluations) stops improving; leave the best weights loaded.

    ``run_epoch(epoch)`` trains one epoch and returns its mean loss; ``validate()`` returns
    validation NDCG@10. ``on_evaluated`` is called after every validation (for checkpoints).
    With ``settings.average_decay`` the weights validated and kept are the running average
    (:class:`WeightAverage`; a resumed run restarts it from the weights it resumes with).
    """
    state = state or LoopState()
    best = best_weights if best_weights is not None else copy.deepcopy(module.state_dict())
    average = WeightAverage(module, settings.average_decay) if settings.average_decay else None
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
        with deterministic_algorithms():
            loss = run_epoch(state.epoch + 1)
        state.train_seconds += time.perf_counter() - started
        state.epoch += 1
        if average is not None:
            average.update(module)
        postfix = {"loss": round(loss, 4)}
        out_of_time = 0.0 < settings.max_train_seconds <= state.train_seconds
        if (
            state.epoch % settings.eval_every == 0
            or state.epoch == settings.max_epochs
            or out_of_time
        ):
            module.eval()
            held = average.applied(module) if average is not None else contextlib.nullcontext()
            with torch.no_grad(), held:
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
            recent = [row["valid_ndcg@10"] for row in state.curve[-settings.smoothing :]]
            score = sum(recent) / len(recent)
            if score > state.best_score:
                state.best_score, state.best_ndcg = score, ndcg
                state.best_epoch, state.stale = state.epoch, 0
                kept = average.weights if average is not None else module.state_dict()
                best = copy.deepcopy(kept)
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
    best weights, or (None, None) when there is no checkpoint. Under torchrun rank 0 reads the
    checkpoint it wrote and sends it to the other ranks, so nodes that do not share rank 0's
    disk resume from the same state (each reading its own folder would let them diverge)."""
    sharding = distributed.current()
    saved = sharding.broadcast(_read_checkpoint(root / CHECKPOINT_DIR) if sharding.main else None)
    if saved is None:
        return None, None
    state, current, best = saved
    net.load_state_dict(current)
    state.setdefault("best_score", state["best_ndcg"])  # checkpoints from before smoothing
    return LoopState(**state), best


def _read_checkpoint(
    source: Path,
) -> tuple[dict, dict[str, torch.Tensor], dict[str, torch.Tensor]] | None:
    if not (source / "loop_state.json").is_file():
        return None
    state = json.loads((source / "loop_state.json").read_text())
    return (
        state,
        load_file(str(source / "current.safetensors")),
        load_file(str(source / "best.safetensors")),
    )
