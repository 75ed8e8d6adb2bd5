"""The generator's training loop, apart from the model (as nanoGPT keeps train.py apart).

Every position of every user's training sequence is a target (windows of ``max_len`` items; see
:func:`genrec.training.training_windows`), each with its own request vector: the data's request
text where it has one, else with some probability a synthesized request naming one of the
target's categories. The loss is the dense head's full-softmax cross-entropy on the decoder's
start state (soft targets: the next item and, with ``later_weight``, the ones after it; over
large catalogs a sampled softmax, see :func:`genrec.losses.negatives_for`) plus the
teacher-forced negative log-likelihood of the target's code path, into which the dense head's
(detached) distribution is distilled depth by depth; where the network has a parallel head,
also the cross-entropy of the next item's parallel codes (:mod:`genrec.generative.parallel`).
With ``detach_path`` (the default) the path loss trains the decoder and the request fusion
only: the backbone and the item embeddings learn from the dense head (and the parallel head).

Checkpoints: see :func:`genrec.early_stopping.save_checkpoint`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from genrec.data.split import SequenceSplit
from genrec.generative.config import GenerativeConfig
from genrec.generative.model import GenerativeNet
from genrec.generative.training_requests import TrainingRequests
from genrec.losses import next_items_loss, sampled_items_loss
from genrec.training import (
    WindowTrainer,
    later_targets,
    training_windows,
)


class GeneratorObjective(nn.Module):
    """A batch's loss (see the module notes); ``table`` holds the request vectors [R, Dr] that
    the batch's request ids index, ``codes`` the items' parallel codes [N, M] where the network
    has a parallel head (both kept out of the state, so DDP never broadcasts them)."""

    def __init__(
        self, net: GenerativeNet, table: torch.Tensor, config: GenerativeConfig,
        device: torch.device, codes: torch.Tensor | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.net = net
        self.table = table
        self.config = config
        self.device = device
        self.codes = codes
        if (net.parallel is None) != (codes is None):
            raise ValueError("parallel codes are needed exactly when the network has their head")

    def forward(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        requests: torch.Tensor,
        later: torch.Tensor | None = None,
        negatives: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x, y, requests [B, T] (request ids, -1 off target), later [B, T, K] or None;
        negatives [S]: the dense head's sampled softmax draws (None: the full catalog)."""
        cfg, net = self.config, self.net
        x, y = x.to(self.device), y.to(self.device)
        keep = y >= 0  # [B, T]
        hidden = net.encode(x)[keep]  # [M, D]
        req = self.table[requests.to(self.device)[keep]]  # [M, Dr]
        state = net.start_state(hidden, req)  # [M, D]
        teacher = teacher_state = None
        loss = torch.zeros((), device=self.device)
        if cfg.flat_loss_weight > 0:
            targets = y[keep]  # [M] or, with later items, [M, 1 + K]
            if later is not None:
                targets = torch.cat([targets[:, None], later.to(self.device)[keep]], dim=1)
            if negatives is None:
                flat = net.flat_logits(state)  # [M, N]
                loss = cfg.flat_loss_weight * next_items_loss(flat, targets, cfg.later_weight)
                teacher = flat.detach().softmax(dim=-1)
            else:
                weight, bias = net.item_table()  # [N, D], [N]
                drawn = negatives.to(self.device)
                flat_loss = sampled_items_loss(
                    state, weight, bias, targets, drawn, cfg.later_weight
                )
                loss = cfg.flat_loss_weight * flat_loss
                teacher_state = state.detach()
        if self.codes is not None and net.parallel is not None and cfg.parallel_loss_weight > 0:
            codes = self.codes[y[keep]]  # [M, codebooks] the next items' parallel codes
            loss = loss + cfg.parallel_loss_weight * net.parallel.loss(state, codes)
        if cfg.path_loss_weight > 0:
            if cfg.detach_path:  # the decoder (request fusion included) learns; not the backbone
                state = net.start_state(hidden.detach(), req)
            path = net.path_loss(
                state, y[keep], teacher, cfg.distill_weight, detach_items=cfg.detach_path,
                teacher_state=teacher_state,
            ).mean()  # fmt: skip
            loss = loss + cfg.path_loss_weight * path
        return loss


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
        parallel_codes: np.ndarray | None = None,
    ) -> None:
        """``parallel_codes`` [N, M]: the items' parallel codes, where ``net`` has their head."""
        super().__init__(split, config, seed=seed, generator=generator)
        self.net = net
        self.requests = requests
        self.config = config
        self.rng = rng  # synthesized requests
        self.device = device
        self.load_epoch(1)
        table = torch.from_numpy(requests.table).to(device)  # [R, Dr]
        optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr,
                                      weight_decay=config.weight_decay)  # fmt: skip
        # Not every parameter has a gradient in every configuration (e.g. without a path loss).
        codes = None if parallel_codes is None else torch.from_numpy(parallel_codes).to(device)
        objective = GeneratorObjective(net, table, config, device, codes)
        self.set_objective(objective, optimizer, find_unused_parameters=True)

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

    def batch(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        """The windows' tensors, with a request id per target: the data's own, else one drawn
        for the target (the same draws on every rank)."""
        x, y = self.inputs[rows], self.targets[rows]  # [B, T]
        if self.real_requests is not None:
            requests = torch.from_numpy(self.real_requests[rows.numpy()])  # [B, T]
        else:
            requests = torch.full_like(y, -1)
            keep = y >= 0
            requests[keep] = self.requests.draw(y[keep].numpy(), self.rng).to(requests.device)
        batch = {"x": x, "y": y, "requests": requests}
        if self.later is not None:
            batch["later"] = self.later[rows]
        return batch

    def targets_in(self, batch: dict[str, torch.Tensor]) -> int:
        return int((batch["y"] >= 0).sum())

    @property
    def target_count(self) -> int:
        return int((self.targets >= 0).sum())
