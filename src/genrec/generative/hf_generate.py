"""The usual way, for comparison: decode the same network with ``transformers``' ``generate()``.

Every trie node becomes a token (one id range per depth, plus a start token); ``forward``
replays the chosen path through the code decoder and returns log-probabilities over the current
node's children, and ``prefix_allowed_tokens_fn`` walks a Python dict trie. This is what a
TIGER-style recommender built on ``generate()`` does; the benchmark measures our batched
``beam_search`` against it on the same weights, and the tests check they agree.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import GenerationConfig, GenerationMixin, PretrainedConfig, PreTrainedModel
from transformers.generation.utils import GenerateBeamDecoderOnlyOutput
from transformers.modeling_outputs import CausalLMOutput

from genrec.generative.model import GenerativeNet


class _AdapterConfig(PretrainedConfig):
    model_type = "genrec-code-decoder"


class GenerateAdapter(PreTrainedModel, GenerationMixin):
    config_class = _AdapterConfig
    main_input_name = "input_ids"

    def __init__(self, net: GenerativeNet) -> None:
        sizes = list(net.trie.nodes_per_depth)
        config = _AdapterConfig()
        config.vocab_size = 1 + sum(sizes)
        super().__init__(config)
        self.net = net
        self.offsets = [1 + sum(sizes[:d]) for d in range(len(sizes))]  # token = offset + node
        self.vocab_size = 1 + sum(sizes)
        self.allowed: dict[tuple[int, ...], list[int]] = {}
        self._build_token_trie()

    def _build_token_trie(self) -> None:
        trie = self.net.trie
        for item in range(trie.nodes_per_depth[-1]):
            path: tuple[int, ...] = (0,)
            for depth, ids in enumerate(trie.node_ids):
                token = self.offsets[depth] + int(ids[item])
                children = self.allowed.setdefault(path, [])
                if token not in children:
                    children.append(token)
                path = (*path, token)

    def prefix_allowed_tokens(self, batch_id: int, input_ids: torch.Tensor) -> list[int]:
        return self.allowed.get(tuple(int(t) for t in input_ids), [])

    def prepare_inputs_for_generation(  # type: ignore[override]
        self, input_ids: torch.Tensor, **kwargs: Any
    ) -> dict[str, Any]:
        return {"input_ids": input_ids, "start_state": kwargs["start_state"]}

    def forward(
        self, input_ids: torch.Tensor, start_state: torch.Tensor, **_: Any
    ) -> CausalLMOutput:
        """input_ids [R, 1 + depth so far] -> logits [R, 1 + depth so far, V]."""
        net, trie = self.net, self.net.trie
        depth = input_ids.shape[1] - 1
        state = start_state
        parent = torch.zeros(len(input_ids), dtype=torch.long, device=input_ids.device)
        for d in range(depth):  # replay the path: no cache, as a plain forward would
            node = input_ids[:, 1 + d] - self.offsets[d]
            state = net.advance(state, node, d)
            parent = node
        logits = torch.full(
            (len(input_ids), self.vocab_size), float("-inf"), device=input_ids.device
        )
        if depth < len(trie.node_ids):
            children = trie.children[depth][parent]  # [R, C]
            logp = net.child_logits(state, children, depth)
            valid = children >= 0
            rows = torch.arange(len(input_ids))[:, None].expand_as(children)[valid]
            logits[rows, children[valid] + self.offsets[depth]] = logp[valid]
        full = logits[:, None, :].expand(-1, input_ids.shape[1], -1)
        return CausalLMOutput(logits=full)

    def generate_items(
        self, start_state: torch.Tensor, k: int, beam_size: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k item indices [B, k] and path log-probabilities via ``generate()``."""
        depth = len(self.net.trie.node_ids)
        config = GenerationConfig(
            num_beams=max(beam_size, k), num_return_sequences=k, max_new_tokens=depth,
            min_new_tokens=depth, do_sample=False, early_stopping=True, length_penalty=0.0,
            output_scores=True, return_dict_in_generate=True, pad_token_id=0, bos_token_id=0,
            eos_token_id=None, use_cache=False,
        )  # fmt: skip
        start = torch.zeros(len(start_state), 1, dtype=torch.long)
        out = self.generate(  # type: ignore[misc]
            input_ids=start, start_state=start_state, generation_config=config,
            prefix_allowed_tokens_fn=self.prefix_allowed_tokens,
        )  # fmt: skip
        if not isinstance(out, GenerateBeamDecoderOnlyOutput) or out.sequences_scores is None:
            raise RuntimeError("generate() did not return beam scores")
        leaves = out.sequences[:, -1] - self.offsets[-1]
        return leaves.view(len(start_state), k), out.sequences_scores.view(len(start_state), k)
