"""Learning from feedback: update a trained generative or LLM model from what users did with its
lists.

Feedback events are joined with the list they were served in (the history and request at
serving time, from the store's served lists), then turned into training signal:

- positives (purchase, like, click, a rating >= ``positive_rating``) raise the likelihood of the
  item in its context (``sft``);
- negatives (dislike, skip, a rating <= ``negative_rating``, and optionally an impression with
  no positive on the same list) enter a preference objective: ``dpo`` pairs a positive with a
  negative of the same list (chosen vs rejected, against the previous model as reference), or
  ``reinforce`` weights every served item's log-probability by its reward minus the list's mean
  (a REINFORCE update with a per-list baseline);
- ``kl_weight`` x KL(previous model || new model) at the same contexts keeps the model from
  forgetting what it knew: over the whole catalog for the native model; for the LLM backbone
  (where scoring the catalog costs a forward per title) over the context's labelled items, both
  distributions renormalised to them.

The LLM backbone trains LoRA adapters on a copy of its weights (merged afterwards) when it was
trained with LoRA, else every weight; contexts run a few at a time (gradients accumulate over
a batch), each prompt once with its items' titles teacher-forced over its cache.

Guards: at most ``max_events_per_user`` events per user (the latest) so no one user steers the
model; events about unknown items or users are kept in the store but skipped here and counted.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from genrec.config import require
from genrec.data.split import SequenceSplit
from genrec.data.tables import read_table
from genrec.evaluation import evaluate
from genrec.generative.decoding import score_all_items
from genrec.generative.recommender import GenerativeRecommender
from genrec.llm.decoding import title_logprobs
from genrec.llm.recommender import LLMRecommender
from genrec.recommender import ModelDirError, Recommender
from genrec.training import seed_everything

POSITIVE_EVENTS = ("purchase", "like", "click")
NEGATIVE_EVENTS = ("dislike", "skip")
OBJECTIVES = ("sft", "dpo", "reinforce")
ModelT = TypeVar("ModelT", bound=Recommender)


@dataclass(frozen=True)
class FinetuneConfig:
    # REINFORCE won `make bench-feedback` (acceptance and held-out NDCG, one seed; DPO close).
    objective: str = "reinforce"
    epochs: int = 3
    lr: float = 3e-4
    batch_size: int = 64
    beta: float = 1.0  # DPO: how sharply the preference margin is enforced
    sft_weight: float = 1.0  # likelihood of positives, added to dpo / reinforce
    kl_weight: float = 1.0  # KL(previous || new) over the catalog at each context
    max_events_per_user: int = 200
    positive_rating: float = 4.0
    negative_rating: float = 2.0
    ignored_impressions_are_negative: bool = True
    tolerance: float = 0.02  # largest relative drop of validation NDCG@10 still promoted
    seed: int = 0

    def validate(self) -> None:
        require(self.objective in OBJECTIVES, f"objective must be one of {list(OBJECTIVES)}")
        require(self.epochs >= 1, "epochs must be at least 1")
        require(self.lr > 0, "lr must be positive")
        require(self.batch_size >= 1, "batch_size must be at least 1")
        require(self.beta > 0, "beta must be positive")
        require(self.sft_weight >= 0 and self.kl_weight >= 0, "weights must be >= 0")
        require(self.max_events_per_user >= 1, "max_events_per_user must be at least 1")
        require(self.negative_rating < self.positive_rating, "negative_rating < positive_rating")
        require(0 <= self.tolerance < 1, "tolerance must be in [0, 1)")


@dataclass
class FeedbackExamples:
    """Training contexts and the labelled items in each."""

    histories: list[np.ndarray] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    positives: list[list[int]] = field(default_factory=list)  # per context
    negatives: list[list[int]] = field(default_factory=list)  # per context
    stats: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.histories)

    @property
    def pair_count(self) -> int:
        return sum(len(p) * len(n) for p, n in zip(self.positives, self.negatives, strict=True))


def _label(row: Any, config: FinetuneConfig) -> int:
    """+1 positive, -1 negative, 0 neither (impressions are decided per list later)."""
    event = str(row.event)
    if event in POSITIVE_EVENTS:
        return 1
    if event in NEGATIVE_EVENTS:
        return -1
    if event == "rating" and row.value is not None and not pd.isna(row.value):
        if float(row.value) >= config.positive_rating:
            return 1
        if float(row.value) <= config.negative_rating:
            return -1
    return 0


def build_examples(
    model: Recommender,
    feedback: pd.DataFrame,
    served: pd.DataFrame | None = None,
    config: FinetuneConfig | None = None,
) -> FeedbackExamples:
    """Group feedback into contexts: one per served list (its history and request), or, for
    events with no known list, the user's stored history without a request."""
    config = config or FinetuneConfig()
    catalog = model._require_catalog()
    stats: dict[str, int] = defaultdict(int)
    stats["events"] = len(feedback)
    lists: dict[str, tuple[list[str], str]] = {}
    if served is not None and len(served):
        for rec_id, history, request in zip(
            served["recommendation_id"], served["history"], served["request"], strict=True
        ):
            lists[str(rec_id)] = (list(history), str(request or ""))
    frame = feedback.sort_values(["timestamp", "id"] if "id" in feedback else ["timestamp"])
    # Per-user cap: keep each user's latest events.
    frame = frame.groupby("user_id", sort=False, group_keys=False).tail(config.max_events_per_user)
    stats["capped"] = len(feedback) - len(frame)
    contexts: dict[str, dict[str, Any]] = {}
    for row in frame.itertuples(index=False):
        item = str(row.item_id)
        if item not in catalog:
            stats["unknown_item"] += 1
            continue
        raw_id = row.recommendation_id
        rec_id = str(raw_id) if isinstance(raw_id, str) and raw_id else None
        if rec_id is not None and rec_id in lists:
            key = f"list:{rec_id}"
            if key not in contexts:
                history, request = lists[rec_id]
                found, _ = catalog.known(history)
                contexts[key] = {"history": np.asarray(found, np.int64), "request": request,
                                 "labels": {}}  # fmt: skip
        elif str(row.user_id) in model.histories:
            key = f"user:{row.user_id}"
            if key not in contexts:
                contexts[key] = {"history": model.histories[str(row.user_id)], "request": "",
                                 "labels": {}}  # fmt: skip
        else:
            stats["unknown_user"] += 1
            continue
        labels: dict[int, int] = contexts[key]["labels"]
        idx = catalog.index_of(item)
        label = _label(row, config)
        if label == 0 and str(row.event) == "impression":
            labels.setdefault(idx, 0)  # shown; decided below
        elif label != 0:
            # The latest explicit signal about an item in a context wins.
            labels[idx] = label
    out = FeedbackExamples(stats=stats)
    for ctx in contexts.values():
        labels = ctx["labels"]
        pos = sorted(i for i, v in labels.items() if v > 0)
        neg = sorted(i for i, v in labels.items() if v < 0)
        if config.ignored_impressions_are_negative and pos:
            # Shown next to an item the user took, and not taken: a (weak) negative.
            neg += sorted(i for i, v in labels.items() if v == 0)
        if not pos and not neg:
            stats["contexts_without_signal"] += 1
            continue
        out.histories.append(ctx["history"])
        out.requests.append(ctx["request"])
        out.positives.append(pos)
        out.negatives.append(neg)
    stats["contexts"] = len(out)
    stats["positives"] = sum(len(p) for p in out.positives)
    stats["negatives"] = sum(len(n) for n in out.negatives)
    out.stats = dict(stats)
    return out


# ------------------------------------------------------------------------------ backbones
class _Native:
    """The native generative model: every item's path log-probability at each context (the
    whole catalog, cheap), so the KL term covers the catalog."""

    whole_catalog = True
    micro_batch: int | None = None  # the whole batch in one forward

    def __init__(self, model: GenerativeRecommender) -> None:
        self.model = model
        model._require_net().eval()  # the reference scores without dropout

    def trainable_copy(self) -> GenerativeRecommender:
        new = copy.copy(self.model)
        new.net = copy.deepcopy(self.model._require_net())
        new.fit_info = dict(self.model.fit_info)
        new.net.eval()  # no dropout: the reference and the update see the same function
        return new

    def parameters(self, new: Recommender) -> list[torch.nn.Parameter]:
        return list(cast(GenerativeRecommender, new)._require_net().parameters())

    def logprobs(
        self, model: Recommender, histories: list[np.ndarray], requests: list[str],
        items: list[list[int]],
    ) -> list[torch.Tensor]:  # fmt: skip
        generative = cast(GenerativeRecommender, model)
        net = generative._require_net()
        return list(score_all_items(net, generative.start_states(histories, requests, net)))

    def finish(self, new: Recommender) -> Recommender:
        cast(GenerativeRecommender, new)._require_net().eval()
        return new


class _Titles:
    """The LLM backbone: log-probabilities of the titles of a context's labelled items only
    (the whole catalog would be a forward per item), so the KL term is over those items,
    renormalised. LoRA adapters on a copy (merged at the end) when the model was trained with
    LoRA, else every weight."""

    whole_catalog = False
    micro_batch: int | None = 4  # contexts per forward: bounds the activations kept for backward

    def __init__(self, model: LLMRecommender) -> None:
        self.model = model
        self.peft: Any = None

    def trainable_copy(self) -> LLMRecommender:
        if self.model.lm is None:
            raise RuntimeError("LLMRecommender is not fitted; call fit() or load()")
        new = copy.copy(self.model)
        lm = copy.deepcopy(self.model.lm)
        if self.model.config.lora:
            # No adapter dropout: the reference and the update see the same function.
            self.peft = self.model.with_lora(lm, dropout=0.0)
            lm = self.peft.get_base_model()  # the same modules, adapters injected
        new.lm = lm.eval()
        new.fit_info = dict(self.model.fit_info)
        return new

    def parameters(self, new: Recommender) -> list[torch.nn.Parameter]:
        lm = cast(LLMRecommender, new).lm
        assert lm is not None
        return [p for p in lm.parameters() if p.requires_grad]

    def logprobs(
        self, model: Recommender, histories: list[np.ndarray], requests: list[str],
        items: list[list[int]],
    ) -> list[torch.Tensor]:  # fmt: skip
        llm = cast(LLMRecommender, model)
        assert llm.lm is not None and llm.trie is not None
        prompts = [llm.prompt_ids(h, r) for h, r in zip(histories, requests, strict=True)]
        rows = title_logprobs(llm.lm, llm.trie, prompts, items)
        return [r.float().cpu() for r in rows]

    def finish(self, new: Recommender) -> Recommender:
        llm = cast(LLMRecommender, new)
        if self.peft is not None:
            llm.lm = self.peft.merge_and_unload()
        assert llm.lm is not None
        llm.lm.eval()
        return llm


def _backbone(model: Recommender) -> _Native | _Titles:
    if isinstance(model, GenerativeRecommender):
        return _Native(model)
    if isinstance(model, LLMRecommender):
        return _Titles(model)
    raise TypeError(f"learning from feedback needs a generative or llm model, not '{model.kind}'")


def _scored_items(backbone: _Native | _Titles, examples: FeedbackExamples) -> list[list[int]]:
    """Per context, the items whose log-probabilities the backbone computes (for the native
    model the whole catalog, so an item's position is its index)."""
    if backbone.whole_catalog:
        return [[] for _ in range(len(examples))]
    return [sorted(set(p) | set(n)) for p, n in zip(examples.positives, examples.negatives,
                                                    strict=True)]  # fmt: skip


def _reference_logprobs(
    backbone: _Native | _Titles,
    examples: FeedbackExamples,
    scored: list[list[int]],
    batch_size: int = 256,
) -> list[torch.Tensor]:
    """The current model's log-probabilities at every context (for the native model every
    item, [N] per context; for the LLM the context's labelled items)."""
    model = backbone.model
    step = min(batch_size, backbone.micro_batch or batch_size)
    out: list[torch.Tensor] = []
    with torch.no_grad():
        for start in range(0, len(examples), step):
            rows = range(start, min(start + step, len(examples)))
            out += backbone.logprobs(
                model, [examples.histories[r] for r in rows], [examples.requests[r] for r in rows],
                [scored[r] for r in rows],
            )  # fmt: skip
    return out


def _slots(scored: list[int], items: list[int]) -> list[int]:
    """Positions of ``items`` in a context's log-probability vector."""
    if not scored:  # the whole catalog
        return list(items)
    where = {item: n for n, item in enumerate(scored)}
    return [where[i] for i in items]


def _normalizers(examples: FeedbackExamples, rows: Sequence[int]) -> dict[str, int]:
    """Term counts of a batch, so its loss is the same sum over any split into chunks."""
    return {
        "sft": sum(len(examples.positives[r]) for r in rows),
        "dpo": sum(len(examples.positives[r]) * len(examples.negatives[r]) for r in rows),
        "reinforce": sum(
            len(examples.positives[r]) + len(examples.negatives[r]) >= 2 for r in rows
        ),
        "kl": len(rows),
    }


def _chunk_loss(
    backbone: _Native | _Titles,
    model: Recommender,
    ref: list[torch.Tensor],
    scored: list[list[int]],
    examples: FeedbackExamples,
    rows: Sequence[int],
    norm: dict[str, int],
    config: FinetuneConfig,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The contribution of ``rows`` to their batch's loss (each term divided by the batch's
    count of such terms) and each part's contribution."""
    logps = backbone.logprobs(
        model, [examples.histories[r] for r in rows], [examples.requests[r] for r in rows],
        [scored[r] for r in rows],
    )  # fmt: skip
    sums: dict[str, torch.Tensor] = {}

    def add(part: str, value: torch.Tensor) -> None:
        sums[part] = sums.get(part, torch.zeros(())) + value / norm[part]

    for logp, r in zip(logps, rows, strict=True):
        ref_logp = ref[r]
        pos = _slots(scored[r], examples.positives[r])
        neg = _slots(scored[r], examples.negatives[r])
        if pos:
            add("sft", -logp[pos].sum())
        if config.objective == "dpo" and pos and neg:
            gain = logp - ref_logp
            margins = gain[pos][:, None] - gain[neg][None, :]
            add("dpo", -F.logsigmoid(config.beta * margins).sum())
        elif config.objective == "reinforce" and len(pos) + len(neg) >= 2:
            rewards = torch.tensor([1.0] * len(pos) + [-1.0] * len(neg))
            add("reinforce", -((rewards - rewards.mean()) * logp[pos + neg]).sum())
        # KL(previous || new) at this context: over the whole catalog (native), or over the
        # scored items with both distributions renormalised to them (LLM).
        new_lp, old_lp = logp, ref_logp
        if not backbone.whole_catalog:
            new_lp, old_lp = logp.log_softmax(0), ref_logp.log_softmax(0)
        add("kl", (old_lp.exp() * (old_lp - new_lp)).sum())
    weight = {"sft": config.sft_weight if config.objective != "sft" else 1.0,
              "dpo": 1.0, "reinforce": 1.0, "kl": config.kl_weight}  # fmt: skip
    total = sum((weight[k] * v for k, v in sums.items()), torch.zeros(()))
    return total, {k: float(v.detach()) for k, v in sums.items()}


def finetune(
    model: ModelT,
    examples: FeedbackExamples,
    config: FinetuneConfig | None = None,
    *,
    progress: bool = False,
) -> tuple[ModelT, dict[str, Any]]:
    """A new model updated on the examples (the given one is left as it was). Works for the
    native generative model and the LLM backbone."""
    config = config or FinetuneConfig()
    config.validate()
    if not len(examples):
        raise ValueError("no usable feedback: nothing to learn from (see the counts)")
    seed_everything(config.seed)
    rng = np.random.default_rng(config.seed)
    backbone = _backbone(model)
    scored = _scored_items(backbone, examples)
    ref = _reference_logprobs(backbone, examples, scored)
    new = backbone.trainable_copy()
    params = backbone.parameters(new)
    optimizer = torch.optim.Adam(params, lr=config.lr)
    history: list[dict[str, float]] = []
    steps = 0
    bar = tqdm(range(config.epochs), desc="finetune", unit="epoch", disable=not progress)
    for _ in bar:
        order = rng.permutation(len(examples))
        sums: dict[str, float] = defaultdict(float)
        batches = 0
        for start in range(0, len(order), config.batch_size):
            rows = [int(r) for r in order[start : start + config.batch_size]]
            norm = _normalizers(examples, rows)
            chunk = backbone.micro_batch or len(rows)
            optimizer.zero_grad()
            for at in range(0, len(rows), chunk):
                loss, parts = _chunk_loss(backbone, new, ref, scored, examples,
                                          rows[at : at + chunk], norm, config)  # fmt: skip
                loss.backward()  # gradients add up over the chunks of the batch
                for k, v in parts.items():
                    sums[k] += v
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            steps += 1
            batches += 1
        epoch = {k: v / max(batches, 1) for k, v in sums.items()}
        history.append(epoch)
        bar.set_postfix({k: f"{v:.3f}" for k, v in epoch.items()})
    tuned = backbone.finish(new)
    report = {
        "objective": config.objective,
        "config": asdict(config),
        "examples": dict(examples.stats),
        "pairs": examples.pair_count,
        "steps": steps,
        "losses": history,
    }
    return cast(ModelT, tuned), report


def relative_change(before: float, after: float) -> float:
    return (after - before) / before if before > 0 and math.isfinite(before) else 0.0


# ------------------------------------------------------------------------------ versions
def next_version_dir(root: Path) -> Path:
    """``root/vNNNN`` one past the highest numbered version in ``root``."""
    numbers = [int(d.name[1:]) for d in root.glob("v[0-9]*") if d.name[1:].isdigit()]
    return root / f"v{max(numbers, default=0) + 1:04d}"


def save_version(
    model: Recommender,
    out: Path,
    *,
    parent: Path,
    parent_version: str,
    report: dict[str, Any],
    promoted: bool,
) -> Path:
    """Write a fine-tuned model as a new version; an existing non-empty folder is refused."""
    if out.exists() and any(out.iterdir()):
        raise ModelDirError(
            f"{out} already exists and is not empty; versions are never overwritten"
        )
    model.fit_info = {
        **model.fit_info,
        "version": out.name,
        "lineage": {
            "parent_version": parent_version,
            "parent_path": str(parent),
            "finetuned_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "promoted": promoted,
            **report,
        },
    }
    return model.save(out)


@dataclass(frozen=True)
class Promotion:
    """Whether a fine-tuned model may replace its parent, by validation NDCG@10."""

    promoted: bool
    before: float | None
    after: float | None
    tolerance: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def promotion_check(
    before_model: Recommender,
    after_model: Recommender,
    split: SequenceSplit | None,
    tolerance: float,
) -> Promotion:
    """Promote unless validation NDCG@10 falls by more than ``tolerance`` (relative)."""
    if split is None:
        return Promotion(True, None, None, tolerance, "no validation data given: not checked")
    before = evaluate(before_model, split, "valid").metrics["ndcg@10"]
    after = evaluate(after_model, split, "valid").metrics["ndcg@10"]
    change = relative_change(before, after)
    if change < -tolerance:
        return Promotion(False, before, after, tolerance,
                         f"validation NDCG@10 fell {-change:.1%} (> {tolerance:.1%})")  # fmt: skip
    return Promotion(True, before, after, tolerance, f"validation NDCG@10 changed {change:+.1%}")


def read_feedback(source: str, served: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Feedback and served lists from a store URL, or from files `genrec feedback export` wrote."""
    from genrec.serving.store import FeedbackStore

    if "://" in source:
        with FeedbackStore(source) as store:
            return store.feedback_frame(), store.served_frame()
    frame = _read_export(Path(source))
    lists = _read_export(Path(served)) if served else pd.DataFrame()
    return frame, lists


def _read_export(path: Path) -> pd.DataFrame:
    """A file `genrec feedback export` wrote (Parquet, CSV or JSON Lines, read by
    :func:`~genrec.data.tables.read_table`), with the store's column types restored: CSV cells
    arrive as text, list columns as JSON strings."""
    import json

    frame = read_table(path)
    for col in ("user_id", "item_id", "recommendation_id", "idempotency_key"):
        if col in frame:
            frame[col] = frame[col].map(lambda v: None if _blank(v) else str(v))
    if "value" in frame:
        frame["value"] = pd.to_numeric(frame["value"].map(lambda v: None if _blank(v) else v))
    for col in ("timestamp", "received_at", "created_at"):
        if col in frame:
            frame[col] = pd.to_datetime(frame[col], utc=True)
    for col in ("history", "items", "scores"):
        if col in frame:
            frame[col] = frame[col].map(lambda v: json.loads(v) if isinstance(v, str) else list(v))
    return frame


def _blank(value: object) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))
