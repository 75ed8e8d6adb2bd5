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

The package: :mod:`~genrec.learning.examples` (contexts and labels), :mod:`~genrec.learning.
exports` (feedback from a store or exported files), :mod:`~genrec.learning.backbones` (the native
model and the LLM behind one interface), :mod:`~genrec.learning.objectives` (the losses),
:mod:`~genrec.learning.finetune` (the update). Turning a fine-tune into a new model version
behind the promotion guard is :func:`genrec.lifecycle.finetune_version`.

Guards: at most ``max_events_per_user`` events per user (the latest) so no one user steers the
model; events about unknown items or users are kept in the store but skipped here and counted.
"""

from genrec.learning.config import NEGATIVE_EVENTS, OBJECTIVES, POSITIVE_EVENTS, FinetuneConfig
from genrec.learning.examples import FeedbackExamples, build_examples
from genrec.learning.exports import read_export, read_feedback
from genrec.learning.finetune import finetune

__all__ = [
    "NEGATIVE_EVENTS",
    "OBJECTIVES",
    "POSITIVE_EVENTS",
    "FeedbackExamples",
    "FinetuneConfig",
    "build_examples",
    "finetune",
    "read_export",
    "read_feedback",
]
