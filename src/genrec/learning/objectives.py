"""The losses of learning from feedback: likelihood of positives (``sft``), a preference margin
against the previous model (``dpo``), or REINFORCE with a per-list baseline (``reinforce``),
each plus ``kl_weight`` x KL(previous model || new model) at the same contexts."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from genrec.learning.backbones import Backbone
from genrec.learning.config import FinetuneConfig
from genrec.learning.examples import FeedbackExamples
from genrec.recommender import Recommender


def scored_items(backbone: Backbone, examples: FeedbackExamples) -> list[list[int]]:
    """Per context, the items whose log-probabilities the backbone computes (for the native
    model the whole catalog, so an item's position is its index)."""
    if backbone.whole_catalog:
        return [[] for _ in range(len(examples))]
    return [sorted(set(p) | set(n)) for p, n in zip(examples.positives, examples.negatives,
                                                    strict=True)]  # fmt: skip


def reference_logprobs(
    backbone: Backbone,
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


def slots(scored: list[int], items: list[int]) -> list[int]:
    """Positions of ``items`` in a context's log-probability vector."""
    if not scored:  # the whole catalog
        return list(items)
    where = {item: n for n, item in enumerate(scored)}
    return [where[i] for i in items]


def normalizers(examples: FeedbackExamples, rows: Sequence[int]) -> dict[str, int]:
    """Term counts of a batch, so its loss is the same sum over any split into chunks."""
    return {
        "sft": sum(len(examples.positives[r]) for r in rows),
        "dpo": sum(len(examples.positives[r]) * len(examples.negatives[r]) for r in rows),
        "reinforce": sum(
            len(examples.positives[r]) + len(examples.negatives[r]) >= 2 for r in rows
        ),
        "kl": len(rows),
    }


def chunk_loss(
    backbone: Backbone,
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
        pos = slots(scored[r], examples.positives[r])
        neg = slots(scored[r], examples.negatives[r])
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
