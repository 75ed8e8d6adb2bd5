"""The generator's training loop, apart from the model (as nanoGPT keeps train.py apart).

Every position of every user's training sequence is a target (windows of ``max_len`` items; see
:func:`genrec.training.training_windows`), each with its own request vector: the data's request
text where it has one, else with some probability a synthesized request naming one of the
target's categories. The loss is the dense head's full-softmax cross-entropy on the decoder's
start state (soft targets: the next item and, with ``later_weight``, the ones after it) plus the
teacher-forced negative log-likelihood of the target's code path, into which the dense head's
(detached) distribution is distilled depth by depth. With ``detach_path`` (the default) the
path loss trains the decoder and the request fusion only: the backbone and the item embeddings
learn from the dense head.

Checkpoints (``checkpoint/`` in the model's output folder, written after each validation) hold
the current and the best weights and the loop's state, so an interrupted run resumes where it
stopped, replaying the same per-epoch orders.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from genrec.data.split import SequenceSplit
from genrec.generative.config import GenerativeConfig
from genrec.generative.model import GenerativeNet
from genrec.generative.training_requests import TrainingRequests
from genrec.training import (
    LoopState,
    WindowTrainer,
    later_targets,
    next_items_loss,
    training_windows,
)

CHECKPOINT_DIR = "checkpoint"


class GeneratorTrainer(WindowTrainer):
    """One training run of the generator; each window starts with the start position."""

    def __init__(
        self,
        net: GenerativeNet,
        split: SequenceSplit,
        requests: TrainingRequests,
        config: GenerativeConfig,
        *,
        seed: int,
        generator: torch.Generator,
        rng: np.random.Generator,
        device: torch.device,
    ) -> None:
        super().__init__(split, seed=seed, generator=generator, batch_size=config.batch_size,
                         shuffle_ties=config.shuffle_ties)  # fmt: skip
        self.net = net
        self.requests = requests
        self.config = config
        self.rng = rng  # synthesized requests
        self.device = device
        self.load_epoch(1)
        self.table = torch.from_numpy(requests.table).to(device)  # [R, Dr]
        self.optimizer = torch.optim.AdamW(
            net.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )

    def load_epoch(self, epoch: int) -> None:
        """The epoch's inputs [W, T], targets [W, T] and real request ids [W, T] (or None)."""
        cfg = self.config
        start = self.net.shape.n_items  # the start position's id
        ordered, orders = self.epoch_sequences(epoch)
        sequences = [np.concatenate([[start], s]) for s in ordered]
        inputs, targets = training_windows(sequences, cfg.max_len, cfg.window_stride)
        self.inputs, self.targets = torch.from_numpy(inputs), torch.from_numpy(targets)
        self.later = None  # [W, T, K] the items after the next one, for the flat head's targets
        if cfg.later_weight > 0:
            later = later_targets(sequences, cfg.max_len, cfg.window_stride, cfg.later_items)
            self.later = torch.from_numpy(later)
        self.real_requests = self.requests.windows(self.split, cfg, orders)

    @property
    def target_count(self) -> int:
        return int((self.targets >= 0).sum())

    def step(self, rows: torch.Tensor) -> float:
        """One optimizer step on the windows ``rows``; returns the batch's loss."""
        cfg = self.config
        x = self.inputs[rows].to(self.device)  # [B, T]
        y = self.targets[rows].to(self.device)  # [B, T]
        keep = y >= 0  # [B, T]
        hidden = self.net.encode(x)[keep]  # [M, D]
        if self.real_requests is not None:
            req_ids = torch.from_numpy(self.real_requests[rows.numpy()]).to(self.device)[keep]
        else:
            req_ids = self.requests.draw(y[keep].cpu().numpy(), self.rng).to(self.device)
        requests = self.table[req_ids]  # [M, Dr]
        state = self.net.start_state(hidden, requests)  # [M, D]
        teacher = None
        loss = torch.zeros((), device=self.device)
        if cfg.flat_loss_weight > 0:
            flat = self.net.flat_logits(state)  # [M, N]
            targets = y[keep]  # [M] or, with later items, [M, 1 + K]
            if self.later is not None:
                later = self.later[rows].to(self.device)[keep]  # [M, K]
                targets = torch.cat([targets[:, None], later], dim=1)
            loss = cfg.flat_loss_weight * next_items_loss(flat, targets, cfg.later_weight)
            teacher = flat.detach().softmax(dim=-1)
        if cfg.path_loss_weight > 0:
            if cfg.detach_path:  # the decoder (request fusion included) learns; not the backbone
                state = self.net.start_state(hidden.detach(), requests)
            path = self.net.path_loss(
                state, y[keep], teacher, cfg.distill_weight, detach_items=cfg.detach_path
            ).mean()
            loss = loss + cfg.path_loss_weight * path
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())


def save_checkpoint(
    root: Path, net: GenerativeNet, state: LoopState, best: dict[str, torch.Tensor]
) -> None:
    """Write ``root/checkpoint`` (current and best weights, loop state), replacing the last one
    only once the new one is complete."""
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
    root: Path, net: GenerativeNet
) -> tuple[LoopState | None, dict[str, torch.Tensor] | None]:
    """Load ``root/checkpoint``'s current weights into ``net``; returns the loop state and the
    best weights, or (None, None) when there is no checkpoint."""
    source = root / CHECKPOINT_DIR
    if not (source / "loop_state.json").is_file():
        return None, None
    saved = json.loads((source / "loop_state.json").read_text())
    net.load_state_dict(load_file(str(source / "current.safetensors")))
    return LoopState(**saved), load_file(str(source / "best.safetensors"))
