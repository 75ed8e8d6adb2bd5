"""Settings of learning from feedback, and which events count as positive or negative."""

from __future__ import annotations

from dataclasses import dataclass

from genrec.config import require

POSITIVE_EVENTS = ("purchase", "like", "click")
NEGATIVE_EVENTS = ("dislike", "skip")
OBJECTIVES = ("sft", "dpo", "reinforce")


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
    # The guard's recent holdout: the newest share of the served lists, kept out of the
    # fine-tune; validation NDCG@10 may fall by as much as NDCG@10 on it rose, up to
    # max_forgetting (a fine-tune that follows newer taste may trade a little of the old).
    recent_share: float = 0.2
    max_forgetting: float = 0.1
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
        require(0 <= self.recent_share < 1, "recent_share must be in [0, 1)")
        require(0 <= self.max_forgetting < 1, "max_forgetting must be in [0, 1)")
