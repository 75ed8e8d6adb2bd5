"""SASRec (Kang & McAuley, 2018) trained with a full softmax over the catalog.

A causal Transformer reads a user's items left to right; the output at every position is scored
against every catalog item (output weights tied to the input item embeddings) and trained with
cross-entropy on the next item, as RecBole's ``loss_type="CE"``.

Training data. Every position of every user's training sequence is a target. A sequence longer
than ``max_len`` is covered by windows of ``max_len`` inputs taken every ``window_stride`` items
(the last window ends at the sequence's end); in each window the loss is computed only on the
targets no earlier window covered, so each target is counted once per epoch and, past the first
window, has at least ``max_len - window_stride`` items of context. Sequences are left-aligned
(item ``j`` of a window sits at position ``j``) and padded on the right, so the causal mask alone
keeps padding out of every real position. At inference the last ``max_len`` items of the history
are read the same way and the output at the last item scores the catalog.

Simultaneous interactions. Items a user logged at the same second have no order of their own
(in ml-100k half of all neighbouring pairs share a timestamp); with ``shuffle_ties`` each epoch
trains on a fresh random order inside every such run, so the model cannot learn the export's
accidental order. Only the training prefix is reordered; validation and test items stay where
the split put them.

Later items. With ``later_weight`` > 0 each target is a distribution rather than one item: the
next item keeps ``1 - later_weight`` of it and the ``later_items`` items after it share the rest
(the loss is still cross-entropy over the whole catalog). A position near the end of the
sequence uses the later items that exist; the last one trains on the next item alone.

Empty histories. A user with no history is scored by item popularity in the training split
(log of the count), which the model keeps with its weights.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genrec.config import require
from genrec.data.split import SequenceSplit
from genrec.early_stopping import (
    LoopSettings,
    early_stopping_loop,
    load_checkpoint,
    save_checkpoint,
)
from genrec.losses import next_items_loss, sampled_items_loss
from genrec.recommender import ScoringRecommender, Validate
from genrec.training import (
    WindowTrainer,
    init_weights,
    later_targets,
    process_info,
    resolve_device,
    seed_everything,
    training_windows,
)

WEIGHTS_FILE = "sasrec.pt"


@dataclass(frozen=True)
class SASRecConfig:
    """SASRec hyper-parameters; the defaults are the configuration tuned on ml-100k.

    RecBole's SASRec shape (2 layers, hidden 64, inner 256, 2 heads, dropout 0.2, 50 items,
    tied output embeddings) with lr 2e-3 and 64 windows per step. Measured on ml-100k (2-core
    CPU), untied output embeddings, dropout 0.5, lr 3e-3 and a linear lr decay were not better
    on validation NDCG@10. Shuffling simultaneous items was (history kept, seeds 0/1/2: valid
    NDCG@10 .0678 -> .0698). So was ``later_weight`` 0.3 (30% of each target shared by the
    next three items), chosen on validation NDCG@10 over seeds 0-4 with shuffled ties: .0719
    against .0704 without it (higher on 2 of 5 seeds; .0792 against .0793 on a leave-one-out
    split nested in the training prefixes, seeds 0-2); see docs/architecture.md. Patience
    counts evaluations, i.e. ``patience * eval_every`` epochs.
    """

    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 2
    inner_size: int = 256
    dropout: float = 0.2  # embeddings, residual branches and feed-forward
    attn_dropout: float = 0.2  # attention weights
    max_len: int = 50  # items of history the model reads
    window_stride: int = 25  # step between training windows over a long sequence
    shuffle_ties: bool = True  # each epoch, reorder items with equal timestamps at random
    lr: float = 2e-3
    lr_end_factor: float = 1.0  # lr decays linearly to lr * this over max_epochs (1: constant)
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    label_smoothing: float = 0.0
    later_weight: float = 0.3  # share of each target given to the items after the next one
    later_items: int = 3  # how many items after the next one share ``later_weight``
    tie_weights: bool = True  # score items with the input item embeddings (else a separate table)
    batch_size: int = 64  # training windows per step (over all processes under torchrun)
    # Items scored per step by the loss: None = every item up to 32,768 items, else the step's
    # targets and 8,192 uniform draws (sampled softmax; genrec.losses.negatives_for); 0 =
    # every item always; K = K draws.
    negatives: int | None = None
    accumulate: int = 1  # micro-batches per step and process (same step, less memory)
    precision: str = "fp32"  # "bf16": forward and loss under bf16 autocast (GPUs; CPUs with AMX)
    max_epochs: int = 40
    patience: int = 4  # evaluations without a better valid NDCG@10 before stopping
    eval_every: int = 1  # epochs between validation evaluations
    valid_exclude_seen: bool = True  # mask history items when validating for early stopping
    max_train_seconds: float = 0.0  # stop after this much training time (0: no limit)
    device: str = "auto"  # "auto" (cuda when available, else cpu), "cpu", "cuda", "cuda:1", ...

    def validate(self) -> None:
        require(self.hidden_size >= 1, f"hidden_size must be at least 1, got {self.hidden_size}")
        require(self.num_layers >= 1, f"num_layers must be at least 1, got {self.num_layers}")
        require(self.num_heads >= 1, f"num_heads must be at least 1, got {self.num_heads}")
        require(
            self.hidden_size % self.num_heads == 0,
            f"hidden_size ({self.hidden_size}) must be divisible by num_heads ({self.num_heads})",
        )
        require(self.inner_size >= 1, f"inner_size must be at least 1, got {self.inner_size}")
        require(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}")
        require(
            0.0 <= self.attn_dropout < 1.0,
            f"attn_dropout must be in [0, 1), got {self.attn_dropout}",
        )
        require(self.max_len >= 1, f"max_len must be at least 1, got {self.max_len}")
        require(
            1 <= self.window_stride <= self.max_len,
            f"window_stride must be in [1, max_len={self.max_len}], got {self.window_stride}",
        )
        require(self.lr > 0.0, f"lr must be positive, got {self.lr}")
        require(
            0.0 <= self.lr_end_factor <= 1.0,
            f"lr_end_factor must be in [0, 1], got {self.lr_end_factor}",
        )
        require(self.weight_decay >= 0.0, f"weight_decay must be >= 0, got {self.weight_decay}")
        require(
            0.0 <= self.label_smoothing < 1.0,
            f"label_smoothing must be in [0, 1), got {self.label_smoothing}",
        )
        require(
            0.0 <= self.later_weight < 1.0,
            f"later_weight must be in [0, 1), got {self.later_weight}",
        )
        require(self.later_items >= 1, f"later_items must be at least 1, got {self.later_items}")
        require(self.batch_size >= 1, f"batch_size must be at least 1, got {self.batch_size}")
        require(
            self.negatives is None or self.negatives >= 0,
            f"negatives must be null or >= 0, got {self.negatives}",
        )
        require(self.accumulate >= 1, f"accumulate must be at least 1, got {self.accumulate}")
        require(
            self.precision in ("fp32", "bf16"),
            f"precision must be 'fp32' or 'bf16', got {self.precision!r}",
        )
        require(self.max_epochs >= 1, f"max_epochs must be at least 1, got {self.max_epochs}")
        require(self.patience >= 1, f"patience must be at least 1, got {self.patience}")
        require(self.eval_every >= 1, f"eval_every must be at least 1, got {self.eval_every}")
        require(
            self.max_train_seconds >= 0.0,
            f"max_train_seconds must be >= 0, got {self.max_train_seconds}",
        )
        require(
            self.device == "auto"
            or self.device == "cpu"
            or self.device == "cuda"
            or self.device.startswith("cuda:"),
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}",
        )


# --------------------------------------------------------------------------------------- network
class CausalBlock(nn.Module):
    """Post-LN Transformer block (as in SASRec/RecBole) with causal scaled-dot-product attention."""

    def __init__(self, d: int, heads: int, inner: int, dropout: float, attn_dropout: float):
        super().__init__()
        self.heads = heads
        self.attn_dropout = attn_dropout
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm1 = nn.LayerNorm(d, eps=1e-12)
        self.ff1 = nn.Linear(d, inner)
        self.ff2 = nn.Linear(inner, d)
        self.norm2 = nn.LayerNorm(d, eps=1e-12)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape  # [B, T, D]
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).unbind(2)  # [B, T, H, Dh]
        att = F.scaled_dot_product_attention(
            q.transpose(1, 2),  # [B, H, T, Dh]
            k.transpose(1, 2),
            v.transpose(1, 2),
            dropout_p=self.attn_dropout if self.training else 0.0,
            is_causal=True,
        )  # [B, H, T, Dh]
        att = att.transpose(1, 2).reshape(b, t, d)  # [B, T, D]
        x = self.norm1(x + self.drop(self.proj(att)))  # [B, T, D]
        ff = self.ff2(self.drop(F.gelu(self.ff1(x))))  # [B, T, D]
        return self.norm2(x + self.drop(ff))  # [B, T, D]


class SASRecNet(nn.Module):
    """Item + position embeddings, causal blocks; logits against (tied) item embeddings."""

    def __init__(self, n_items: int, config: SASRecConfig):
        super().__init__()
        d = config.hidden_size
        self.item_emb = nn.Embedding(n_items + 1, d, padding_idx=0)  # index 0 is padding
        self.pos_emb = nn.Embedding(config.max_len, d)
        self.norm = nn.LayerNorm(d, eps=1e-12)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            CausalBlock(d, config.num_heads, config.inner_size, config.dropout, config.attn_dropout)
            for _ in range(config.num_layers)
        )
        self.out_emb = None if config.tie_weights else nn.Embedding(n_items, d)
        self.apply(init_weights)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """Hidden states for left-aligned, right-padded item sequences (1-based, 0 = pad)."""
        t = seq.shape[1]
        pos = torch.arange(t, device=seq.device)  # [T]
        x = self.drop(self.norm(self.item_emb(seq) + self.pos_emb(pos)[None]))  # [B, T, D]
        for block in self.blocks:
            x = block(x)  # [B, T, D]
        return x

    def output_weight(self) -> torch.Tensor:
        """The items' output embeddings [N, D] (row i: item i)."""
        return self.item_emb.weight[1:] if self.out_emb is None else self.out_emb.weight

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores of every catalog item for hidden states [..., D] -> [..., N]."""
        return hidden @ self.output_weight().T  # [..., N]


# ----------------------------------------------------------------------------------- training
class SASRecObjective(nn.Module):
    """A batch's loss: cross-entropy over the catalog of every target position (with the later
    items as soft targets when ``later_weight`` > 0)."""

    def __init__(self, net: SASRecNet, config: SASRecConfig, device: torch.device) -> None:
        super().__init__()
        self.net = net
        self.config = config
        self.device = device

    def forward(
        self, seq: torch.Tensor, target: torch.Tensor, negatives: torch.Tensor | None = None
    ) -> torch.Tensor:
        """seq [B, T], target [B, T(, 1 + K)]; negatives [S]: a sampled softmax over the targets
        and these items instead of the full catalog."""
        seq, target = seq.to(self.device), target.to(self.device)  # [B, T], [B, T(, 1 + K)]
        hidden = self.net(seq)  # [B, T, D]
        keep = (target if target.dim() == 2 else target[..., 0]) >= 0  # [B, T]
        cfg = self.config
        if negatives is not None:
            return sampled_items_loss(hidden[keep], self.net.output_weight(), None, target[keep],
                                      negatives.to(self.device), cfg.later_weight)  # fmt: skip
        logits = self.net.logits(hidden[keep])  # [M, N]
        return next_items_loss(logits, target[keep], cfg.later_weight, cfg.label_smoothing)


class SASRecTrainer(WindowTrainer):
    """SASRec's training run: windows over the training sequences, AdamW and a linear
    learning-rate schedule."""

    def __init__(
        self,
        net: SASRecNet,
        split: SequenceSplit,
        config: SASRecConfig,
        *,
        seed: int,
        generator: torch.Generator,
        device: torch.device,
    ) -> None:
        super().__init__(split, config, seed=seed, generator=generator)
        require(
            not (self.negatives and config.label_smoothing),
            f"label_smoothing needs the full softmax, and {split.n_items} items train with a "
            f"sampled one: set negatives: 0 (every item) or label_smoothing: 0",
        )
        self.net = net
        self.config = config
        self.device = device
        self.load_epoch(1)
        optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr,
                                      weight_decay=config.weight_decay)  # fmt: skip
        self.set_objective(SASRecObjective(net, config, device), optimizer)
        steps_per_epoch = -(-len(self.inputs) // config.batch_size)
        self.schedule = torch.optim.lr_scheduler.LinearLR(
            optimizer,
            start_factor=1.0,
            end_factor=config.lr_end_factor,
            total_iters=max(config.max_epochs * steps_per_epoch, 1),
        )

    def load_epoch(self, epoch: int) -> None:
        """The epoch's inputs [W, T] and targets [W, T], or [W, T, 1 + later_items] with the
        next item in slot 0 and the later ones after it."""
        cfg = self.config
        ordered, _ = self.epoch_sequences(epoch)
        inputs, targets = training_windows(ordered, cfg.max_len, cfg.window_stride)
        if cfg.later_weight > 0.0:
            later = later_targets(ordered, cfg.max_len, cfg.window_stride, cfg.later_items)
            targets = np.concatenate([targets[..., None], later], axis=2)
        self.inputs, self.targets = torch.from_numpy(inputs), torch.from_numpy(targets)

    def batch(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"seq": self.inputs[rows], "target": self.targets[rows]}

    def targets_in(self, batch: dict[str, torch.Tensor]) -> int:
        target = batch["target"]
        return int((target if target.dim() == 2 else target[..., 0]).ge(0).sum())

    @property
    def target_count(self) -> int:
        return self.targets_in({"target": self.targets})


# ------------------------------------------------------------------------------- recommender
class SASRecRecommender(ScoringRecommender):
    """SASRec with full-softmax cross-entropy; scores the whole catalog."""

    kind = "sasrec"
    config_class = SASRecConfig
    config: SASRecConfig

    def __init__(self, config: SASRecConfig | None = None) -> None:
        super().__init__(config)
        self.net: SASRecNet | None = None
        self.popularity: torch.Tensor | None = None  # [N] log(1 + training count)
        self.device = torch.device("cpu")
        self.checkpoint_root: Path | None = None  # where to write and resume checkpoints

    # ------------------------------------------------------------------ training
    def _fit(self, split: SequenceSplit, *, seed: int, progress: bool, validate: Validate) -> None:
        cfg = self.config
        generator = seed_everything(seed)
        self.device = resolve_device(cfg.device)
        counts = np.zeros(split.n_items, dtype=np.float64)
        for seq in split.train.values():
            np.add.at(counts, seq, 1.0)
        self.popularity = torch.from_numpy(np.log1p(counts)).to(torch.float32)  # [N]
        self.net = SASRecNet(split.n_items, cfg).to(self.device)
        trainer = SASRecTrainer(self.net, split, cfg, seed=seed, generator=generator,
                                device=self.device)  # fmt: skip
        valid_seconds = 0.0

        def timed_validate() -> float:
            nonlocal valid_seconds
            started = time.perf_counter()
            score = validate(self)
            valid_seconds += time.perf_counter() - started
            return score

        settings = LoopSettings(cfg.max_epochs, cfg.patience, cfg.eval_every, cfg.max_train_seconds)
        root = self.checkpoint_root
        save = None
        if root is not None and trainer.sharding.main:
            save = partial(save_checkpoint, root, self.net)
        loop_state, best = load_checkpoint(root, self.net) if root is not None else (None, None)
        state = early_stopping_loop(
            self.net,
            trainer.run_epoch,
            timed_validate,
            settings,
            desc="sasrec",
            progress=progress,
            state=loop_state,
            best_weights=best,
            on_evaluated=save,
        )
        self.fit_info = {
            "epochs": state.epoch,
            "best_epoch": state.best_epoch,
            "best_valid_ndcg@10": state.best_ndcg,
            "train_seconds": round(state.train_seconds, 3),  # excludes validation
            "valid_seconds": round(valid_seconds, 3),
            "train_windows": len(trainer.inputs),
            "train_targets": trainer.target_count,
            "negatives": trainer.negatives,  # sampled-softmax draws per step (0: full softmax)
            "device": str(self.device),
            **process_info(trainer.sharding),
            "seed": seed,
            "curve": state.curve,
        }

    # ----------------------------------------------------------------- inference
    def score(self, histories: Sequence[np.ndarray]) -> torch.Tensor:
        """Scores [B, N] on the CPU: the model's logits, or popularity for an empty history."""
        if self.net is None or self.popularity is None:
            raise RuntimeError("SASRecRecommender is not fitted; call fit() or load()")
        t = self.config.max_len
        batch = np.zeros((len(histories), t), dtype=np.int64)  # [B, T]
        last = np.zeros(len(histories), dtype=np.int64)  # [B]
        empty = np.zeros(len(histories), dtype=bool)  # [B]
        for row, hist in enumerate(histories):
            tail = np.asarray(hist, dtype=np.int64)[-t:]
            if len(tail) == 0:
                empty[row] = True
                continue
            batch[row, : len(tail)] = tail + 1
            last[row] = len(tail) - 1
        was_training = self.net.training
        self.net.eval()
        with torch.no_grad():
            seq = torch.from_numpy(batch).to(self.device)  # [B, T]
            hidden = self.net(seq)  # [B, T, D]
            idx = torch.from_numpy(last).to(self.device)  # [B]
            final = hidden[torch.arange(len(histories), device=self.device), idx]  # [B, D]
            scores = self.net.logits(final).float().cpu()  # [B, N]
        self.net.train(was_training)
        if empty.any():
            scores[torch.from_numpy(empty)] = self.popularity
        return scores

    # --------------------------------------------------------------- persistence
    def _save_state(self, path: Path) -> None:
        if self.net is None or self.popularity is None:
            raise RuntimeError("SASRecRecommender is not fitted; nothing to save")
        state = {k: v.detach().cpu() for k, v in self.net.state_dict().items()}
        torch.save({"weights": state, "popularity": self.popularity.cpu()}, path / WEIGHTS_FILE)

    def _load_state(self, path: Path) -> None:
        blob = torch.load(path / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        popularity = blob["popularity"]
        self.device = torch.device("cpu")
        self.net = SASRecNet(int(popularity.shape[0]), self.config)
        self.net.load_state_dict(blob["weights"])
        self.net.eval()
        self.popularity = popularity
