"""The two kinds of model that learn from feedback, behind one small interface.

:class:`GenerativeBackbone`: the native generative model scores every item at each context
(its hybrid ranking, path plus dense head, as a distribution; cheap), so the KL term to the
previous model covers the whole catalog.
:class:`LLMTitleBackbone`: the LLM scores only the titles of a context's labelled items (the
whole catalog would be a forward per title), so its KL term is over those items, renormalised;
it trains LoRA adapters on a copy (merged at the end) when the model was trained with LoRA, else
every weight.
"""

from __future__ import annotations

import copy
from typing import Any, cast

import numpy as np
import torch

from genrec.generative.decoding import item_logprobs
from genrec.generative.recommender import GenerativeRecommender
from genrec.llm.decoding import title_logprobs
from genrec.llm.recommender import LLMRecommender
from genrec.recommender import Recommender


class GenerativeBackbone:
    """The native generative model: every item's log-probability under its hybrid ranking at
    each context (the whole catalog, cheap), so the KL term covers the catalog."""

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
        states = generative.start_states(histories, requests, net)
        return list(item_logprobs(net, states, generative.dense_weight))

    def finish(self, new: Recommender) -> Recommender:
        cast(GenerativeRecommender, new)._require_net().eval()
        return new


class LLMTitleBackbone:
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


Backbone = GenerativeBackbone | LLMTitleBackbone


def backbone_for(model: Recommender) -> Backbone:
    if isinstance(model, GenerativeRecommender):
        return GenerativeBackbone(model)
    if isinstance(model, LLMRecommender):
        return LLMTitleBackbone(model)
    raise TypeError(f"learning from feedback needs a generative or llm model, not '{model.kind}'")
