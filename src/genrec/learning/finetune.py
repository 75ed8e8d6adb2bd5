"""``finetune``: a new model updated on feedback examples; the given one is left as it was."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from typing import Any, TypeVar, cast

import numpy as np
import torch
from tqdm.auto import tqdm

from genrec.learning.backbones import backbone_for
from genrec.learning.config import FinetuneConfig
from genrec.learning.examples import FeedbackExamples
from genrec.learning.objectives import chunk_loss, normalizers, reference_logprobs, scored_items
from genrec.recommender import Recommender
from genrec.training import deterministic_algorithms, seed_everything

ModelT = TypeVar("ModelT", bound=Recommender)


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
    backbone = backbone_for(model)
    scored = scored_items(backbone, examples)
    ref = reference_logprobs(backbone, examples, scored)
    new = backbone.trainable_copy()
    params = backbone.parameters(new)
    optimizer = torch.optim.Adam(params, lr=config.lr)
    history: list[dict[str, float]] = []
    steps = 0
    bar = tqdm(range(config.epochs), desc="finetune", unit="epoch", disable=not progress)
    with deterministic_algorithms():  # same seed, same weights, in any process
        for _ in bar:
            order = rng.permutation(len(examples))
            sums: dict[str, float] = defaultdict(float)
            batches = 0
            for start in range(0, len(order), config.batch_size):
                rows = [int(r) for r in order[start : start + config.batch_size]]
                norm = normalizers(examples, rows)
                chunk = backbone.micro_batch or len(rows)
                optimizer.zero_grad()
                for at in range(0, len(rows), chunk):
                    loss, parts = chunk_loss(backbone, new, ref, scored, examples,
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
