"""The generator network: a causal transformer over history items, a small code decoder and a
dense head.

Each history item enters as one position whose embedding is its id embedding plus the sum of
its semantic-code embeddings (plus a learned projection of its text vector where
``text_dim`` > 0); a GPT-2 backbone built from a ``transformers`` config reads the
sequence once. The hidden state at the last position, fused with the request vector, is the
start state of two heads. The code decoder emits the next item's path through the catalog trie
one depth at a time: first code, second code, ..., then the item itself among the items sharing
that prefix (the collision digit). At each depth the logits are dot products between the
decoder state and the embeddings of the current node's children; after choosing a child the
state is updated by a residual MLP. The dense head scores every item at once against the same
item embeddings (``flat_logits``). The leaf embeddings are tied to the items' input id
embeddings, as SASRec ties its output layer. The recommender ranks the decoder's beam by path
log-probability plus a weight times the dense head's (see :mod:`genrec.generative.decoding`).
Where ``parallel_codes`` > 0 a third head, trained but never ranking, predicts the next item's
product-quantization codes from the same start state (:mod:`genrec.generative.parallel`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GPT2Config, GPT2Model

from genrec.generative.parallel import ParallelHead
from genrec.indexing import TrieTensors
from genrec.losses import FULL_SOFTMAX_MAX_ITEMS
from genrec.training import init_weights

# child_logits gathers the children's embeddings (no gradient) when a depth has more than
# this many nodes per child slot; below it one matrix product over the depth is faster.
_GATHER_RATIO = 64
_TEXT_CHUNK = 65536  # items projected at once when the inference text table is built


@dataclass(frozen=True)
class NetworkShape:
    """Everything that fixes the network's parameter shapes (saved as ``network.json``): sizes
    that come from the catalog and the request encoder, and the settings of the same name in
    :class:`~genrec.generative.config.GenerativeConfig`."""

    n_items: int
    codebook_sizes: tuple[int, ...]
    nodes_per_depth: tuple[int, ...]
    request_dim: int
    hidden_size: int
    num_layers: int
    num_heads: int
    inner_size: int
    max_len: int
    dropout: float
    attn_dropout: float
    # Width of the item text vectors read as an input feature of each item (0: none; models
    # saved before the setting existed have none).
    text_dim: int = 0
    # Codebooks and codes per codebook of the parallel-code head (genrec.generative.parallel;
    # 0: none).
    parallel_codes: int = 0
    parallel_codebook_size: int = 0

    @classmethod
    def from_config(cls, config: Any, **sizes: Any) -> NetworkShape:
        """The shape for a config (its fields named as ours) and the catalog's ``sizes``."""
        names = {f.name for f in fields(cls)}
        shared = {f.name: getattr(config, f.name) for f in fields(config) if f.name in names}
        values = {**shared, **sizes}
        values["codebook_sizes"] = tuple(values["codebook_sizes"])
        return cls(**values)


def backbone_config(shape: NetworkShape) -> GPT2Config:
    return GPT2Config(  # type: ignore[call-arg]
        vocab_size=1,  # inputs arrive as embeddings; the token table is unused
        n_positions=shape.max_len,
        n_embd=shape.hidden_size,
        n_layer=shape.num_layers,
        n_head=shape.num_heads,
        n_inner=shape.inner_size,
        resid_pdrop=shape.dropout,
        embd_pdrop=shape.dropout,
        attn_pdrop=shape.attn_dropout,
        # GPT-2's tanh GELU as one fused kernel: same function as "gelu_new" (max difference
        # 2.4e-7), 3.7x faster on this CPU.
        activation_function="gelu_pytorch_tanh",
        bos_token_id=0,
        eos_token_id=0,
        attn_implementation="sdpa",
    )


def inference_supported(backbone: GPT2Model) -> bool:
    """Whether :func:`gpt2_inference` computes this backbone's function (GPT-2's defaults)."""
    cfg = backbone.config
    return bool(
        cfg.activation_function in ("gelu_pytorch_tanh", "gelu_new")
        and cfg.scale_attn_weights
        and not cfg.scale_attn_by_inverse_layer_idx
        and not cfg.reorder_and_upcast_attn
        and cfg.add_cross_attention is False
    )


def gpt2_inference(
    backbone: GPT2Model, embeds: torch.Tensor, last: torch.Tensor | None = None
) -> torch.Tensor:
    """GPT-2's forward pass in eval mode for input embeddings [B, T, D].

    Returns hidden states [B, T, D], or with ``last`` [B] (each row's last real position) only
    those rows' states [B, D]: the final block then attends from, and transforms, one position
    per row. Inputs are left-aligned and padded on the right, so causal attention alone keeps
    padding out of every real position: the outputs there equal ``backbone(inputs_embeds=...,
    attention_mask=...)`` (tests check it); rows at padding positions are not meaningful.
    Written out because the library's forward spends most of its time on a CPU outside the
    matrix products for a model this small (2 layers, 64 wide).
    """
    heads = backbone.config.n_head
    b, t, d = embeds.shape
    x = embeds + backbone.wpe.weight[:t]  # [B, T, D]
    blocks: list[Any] = list(backbone.h)  # GPT2Block modules
    for index, block in enumerate(blocks):
        a = F.layer_norm(x, (d,), block.ln_1.weight, block.ln_1.bias, block.ln_1.eps)
        qkv = torch.addmm(block.attn.c_attn.bias, a.reshape(-1, d), block.attn.c_attn.weight)
        q, k, v = qkv.view(b, t, 3, heads, d // heads).permute(2, 0, 3, 1, 4)  # [B, H, T, Dh]
        if last is not None and index == len(blocks) - 1:
            rows = torch.arange(b, device=x.device)
            q = q[rows, :, last].unsqueeze(2)  # [B, H, 1, Dh]
            keys = torch.arange(t, device=x.device)[None, None, None] <= last[:, None, None, None]
            att = F.scaled_dot_product_attention(q, k, v, attn_mask=keys)  # [B, H, 1, Dh]
            x = x[rows, last].unsqueeze(1)  # [B, 1, D]
            t = 1
        else:
            att = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # [B, H, T, Dh]
        att = att.transpose(1, 2).reshape(b * t, d)
        x = x + torch.addmm(block.attn.c_proj.bias, att, block.attn.c_proj.weight).view(b, t, d)
        m = F.layer_norm(x, (d,), block.ln_2.weight, block.ln_2.bias, block.ln_2.eps)
        inner = torch.addmm(block.mlp.c_fc.bias, m.reshape(-1, d), block.mlp.c_fc.weight)
        inner = F.gelu(inner, approximate="tanh")
        x = x + torch.addmm(block.mlp.c_proj.bias, inner, block.mlp.c_proj.weight).view(b, t, d)
    ln: Any = backbone.ln_f
    out = F.layer_norm(x, (d,), ln.weight, ln.bias, ln.eps)
    return out if last is None else out[:, 0]


class GenerativeNet(nn.Module):
    input_codes: torch.Tensor
    input_text: torch.Tensor  # [n, text_dim] the items' text vectors, where text_dim > 0

    def __init__(
        self,
        shape: NetworkShape,
        codes: torch.Tensor,
        trie: TrieTensors,
        text_vectors: torch.Tensor | None = None,
    ) -> None:
        """``text_vectors`` [n, text_dim]: the items' text vectors, read where
        ``shape.text_dim`` > 0 (else ignored)."""
        super().__init__()
        self.shape = shape
        d = shape.hidden_size
        n = shape.n_items
        self.bos_id = n + 1  # 0 = padding, 1..n = items, n + 1 = start of sequence
        self.item_embedding = nn.Embedding(n + 2, d, padding_idx=0)
        self.code_embeddings = nn.ModuleList(
            nn.Embedding(size + 1, d, padding_idx=size) for size in shape.codebook_sizes
        )
        # codes of padding / start rows point at each level's padding code (a zero vector).
        null = torch.tensor(shape.codebook_sizes, dtype=torch.long)
        table = torch.cat([null[None], codes[:, : len(shape.codebook_sizes)], null[None]])
        self.register_buffer("input_codes", table, persistent=False)  # [n + 2, L]
        self.backbone = GPT2Model(backbone_config(shape))
        self.request_proj = nn.Linear(shape.request_dim, d)
        self.null_request = nn.Parameter(torch.zeros(d))
        self.fuse_norm = nn.LayerNorm(d)
        depth = len(shape.nodes_per_depth)
        # Node embeddings for every depth but the last (items use item_embedding, tied).
        self.node_embeddings = nn.ModuleList(
            nn.Embedding(size, d) for size in shape.nodes_per_depth[:-1]
        )
        self.node_bias = nn.ParameterList(
            nn.Parameter(torch.zeros(size)) for size in shape.nodes_per_depth
        )
        self.updates = nn.ModuleList(
            nn.Sequential(nn.Linear(2 * d, d), nn.GELU(), nn.Linear(d, d)) for _ in range(depth - 1)
        )
        self.update_norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(depth - 1))
        self.trie = trie
        self.apply(init_weights)
        self.text_proj: nn.Linear | None = None
        self._text_cache: tuple[tuple[int, ...], torch.Tensor] | None = None
        if shape.text_dim > 0:  # created last: the other weights draw the same initial values
            if text_vectors is None or tuple(text_vectors.shape) != (n, shape.text_dim):
                got = None if text_vectors is None else tuple(text_vectors.shape)
                raise ValueError(f"the network reads text vectors [{n}, {shape.text_dim}]: {got}")
            # the model's item vectors themselves (no copy; not saved with the weights: the
            # model folder keeps them), made unit length as they are read
            self.register_buffer("input_text", text_vectors.float(), persistent=False)
            self.text_proj = nn.Linear(shape.text_dim, d, bias=False)
            init_weights(self.text_proj)
        self.parallel: ParallelHead | None = None  # a training loss only (never ranks)
        if shape.parallel_codes > 0:
            self.parallel = ParallelHead(d, shape.parallel_codes, shape.parallel_codebook_size)

    # --------------------------------------------------------------------- encoder
    def embed_items(self, ids: torch.Tensor) -> torch.Tensor:
        """ids [B, T] (0 pad, 1..n items, n + 1 start) -> [B, T, D]."""
        x = self.item_embedding(ids)
        codes = self.input_codes[ids]  # [B, T, L]
        for level, table in enumerate(self.code_embeddings):
            x = x + table(codes[..., level])
        if self.text_proj is not None:
            n = self.shape.n_items
            rows = (ids - 1).clamp(0, n - 1)
            real = ((ids > 0) & (ids <= n)).unsqueeze(-1)  # padding and start read no text
            if self.training or torch.is_grad_enabled():
                x = x + self.text_proj(F.normalize(self.input_text[rows], dim=-1)) * real
            else:
                x = x + self._projected_text()[rows] * real
        return x

    def _projected_text(self) -> torch.Tensor:
        """Every item's projected text vector [N, D] for inference, computed once and again
        only when the projection or the vectors change (an optimizer step, a weight load or an
        edit changes a tensor's version): a request then gathers D numbers an item, not its
        text vector."""
        assert self.text_proj is not None
        weight = self.text_proj.weight
        text = self.input_text
        key = (weight._version, weight.data_ptr(), text._version, text.data_ptr())
        if self._text_cache is None or self._text_cache[0] != key:
            self._text_cache = None  # the old table goes first; the new one is filled in place
            table = torch.empty(len(text), weight.shape[0], dtype=weight.dtype, device=text.device)
            with torch.no_grad():
                for start in range(0, len(text), _TEXT_CHUNK):
                    part = text[start : start + _TEXT_CHUNK]
                    table[start : start + len(part)] = self.text_proj(F.normalize(part, dim=-1))
            self._text_cache = (key, table)
        return self._text_cache[1]

    def encode(self, ids: torch.Tensor) -> torch.Tensor:
        """Hidden states [B, T, D] for left-aligned, right-padded id sequences [B, T].

        Training runs the ``transformers`` GPT-2. Inference (eval mode, no gradients) runs
        :func:`gpt2_inference` over the same weights: the same function at every real position,
        without the library's per-call mask building and dispatch, which on a CPU cost more than
        the arithmetic of this small model.
        """
        if self._use_inference_forward():
            return gpt2_inference(self.backbone, self.embed_items(ids))
        return self._library_encode(ids)

    def _library_encode(self, ids: torch.Tensor) -> torch.Tensor:
        """``encode`` through the ``transformers`` GPT-2: [B, T] -> [B, T, D]."""
        mask = (ids > 0).to(torch.long)
        out = self.backbone(inputs_embeds=self.embed_items(ids), attention_mask=mask)
        hidden: torch.Tensor = out.last_hidden_state
        return hidden

    def encode_last(
        self, ids: torch.Tensor, last: torch.Tensor, *, library_forward: bool = False
    ) -> torch.Tensor:
        """Hidden states [B, D] at each row's last real position ``last`` [B] (as ``encode``).
        ``library_forward``: always run the ``transformers`` forward (for comparisons)."""
        if not library_forward and self._use_inference_forward():
            return gpt2_inference(self.backbone, self.embed_items(ids), last)
        hidden = self._library_encode(ids)
        return hidden[torch.arange(len(ids), device=ids.device), last]

    def _use_inference_forward(self) -> bool:
        return (
            not self.training and not torch.is_grad_enabled() and inference_supported(self.backbone)
        )

    def start_state(self, hidden: torch.Tensor, requests: torch.Tensor | None) -> torch.Tensor:
        """Fuse hidden states [..., D] with request vectors [..., R] (None or zero rows = none)."""
        if requests is None:
            return self.fuse_norm(hidden + self.null_request)
        has = (requests.abs().sum(-1, keepdim=True) > 0).to(hidden.dtype)  # [..., 1]
        projected = self.request_proj(requests)
        return self.fuse_norm(hidden + has * projected + (1 - has) * self.null_request)

    # --------------------------------------------------------------------- decoder
    def node_table(
        self, depth: int, detach_items: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings [M_d, D] and biases [M_d] of the nodes at a depth (``detach_items``: the
        leaves', shared with the dense head, without gradient)."""
        bias: torch.Tensor = self.node_bias[depth]
        if depth == len(self.node_embeddings):
            items = self.item_embedding.weight[1 : self.shape.n_items + 1]
            return (items.detach(), bias.detach()) if detach_items else (items, bias)
        table: nn.Embedding = self.node_embeddings[depth]  # type: ignore[assignment]
        return table.weight, bias

    def item_table(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The items' embeddings [N, D] and biases [N]: the last depth's nodes, which the dense
        head scores."""
        return self.node_table(len(self.node_embeddings))

    def child_logits(
        self, state: torch.Tensor, children: torch.Tensor, depth: int, detach_items: bool = False
    ) -> torch.Tensor:
        """state [..., D], children [..., C] node ids (-1 pad) -> log-probs [..., C].

        Scores every node of the depth with one matrix product and gathers the children: on
        a CPU one BLAS call beats gathering a [..., C, D] block, and its backward is dense.
        Without gradient, where the depth has many more nodes than a node has children (the
        items under a beam's prefixes at decoding), it gathers the children's embeddings
        instead, so the cost follows the beam, not the catalog; so does training where the depth
        has more nodes than a full softmax would score (FULL_SOFTMAX_MAX_ITEMS).
        """
        weight, bias = self.node_table(depth, detach_items)
        sparse = weight.shape[0] > _GATHER_RATIO * children.shape[-1]
        if sparse and (not torch.is_grad_enabled() or weight.shape[0] > FULL_SOFTMAX_MAX_ITEMS):
            if state.shape[:-1] != children.shape[:-1]:
                lead = torch.broadcast_shapes(state.shape[:-1], children.shape[:-1])
                state = state.expand(*lead, state.shape[-1])
                children = children.expand(*lead, children.shape[-1])
            safe = children.clamp(min=0)
            logits = torch.einsum("...d,...cd->...c", state, weight[safe]) + bias[safe]
            logits = logits.masked_fill(children < 0, float("-inf"))
            return F.log_softmax(logits, dim=-1)
        every = torch.addmm(bias, state.reshape(-1, state.shape[-1]), weight.T)
        every = every.view(*state.shape[:-1], -1)  # [..., M_d]
        if every.shape[:-1] != children.shape[:-1]:
            lead = torch.broadcast_shapes(every.shape[:-1], children.shape[:-1])
            children = children.expand(*lead, children.shape[-1])
            every = every.expand(*lead, every.shape[-1])
        logits = every.gather(-1, children.clamp(min=0))  # [..., C]
        logits = logits.masked_fill(children < 0, float("-inf"))
        return F.log_softmax(logits, dim=-1)

    def advance(self, state: torch.Tensor, nodes: torch.Tensor, depth: int) -> torch.Tensor:
        """The decoder state after choosing ``nodes`` [...] at ``depth``: [..., D]."""
        weight, _ = self.node_table(depth)
        chosen = weight[nodes]
        update = self.updates[depth](torch.cat([state, chosen], dim=-1))
        result: torch.Tensor = self.update_norms[depth](state + update)
        return result

    def flat_logits(self, state: torch.Tensor) -> torch.Tensor:
        """Scores of every item from the start state [M, D] -> [M, N] (the dense head)."""
        weight, bias = self.item_table()
        return state @ weight.T + bias

    def path_loss(
        self,
        state: torch.Tensor,
        targets: torch.Tensor,
        teacher: torch.Tensor | None = None,
        distill_weight: float = 0.0,
        detach_items: bool = False,
        teacher_state: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Teacher-forced negative log-likelihood of each target's code path. [M, D], [M] -> [M].

        With ``teacher`` (item probabilities [M, N], no gradient), each depth also pays
        ``distill_weight`` x KL(teacher's distribution over the true parent's children ||
        the decoder's), so the generated path inherits the full-softmax head's ranking.
        ``detach_items``: the item (leaf) embeddings and biases, shared with the dense head, get
        no gradient from this loss. ``teacher_state`` (the start state [M, D], no gradient)
        instead of ``teacher``, where the dense head never scored the whole catalog (a sampled
        softmax): the last depth distils the dense head's distribution over the true parent's
        children, which is the same as ``teacher`` gives there; the depths above, which would
        need the whole catalog's mass under each node, distil nothing.
        """
        loss = torch.zeros(len(targets), device=state.device)
        parent = torch.zeros_like(targets)
        last = len(self.trie.node_ids) - 1
        for depth in range(len(self.trie.node_ids)):
            node = self.trie.node_ids[depth][targets]  # [M]
            children = self.trie.children[depth][parent]  # [M, C]
            logp = self.child_logits(state, children, depth, detach_items)
            slot = (children == node[:, None]).float().argmax(dim=1)
            loss = loss - logp.gather(1, slot[:, None]).squeeze(1)
            q = None  # the teacher's distribution over the true parent's children [M, C]
            if teacher is not None and distill_weight > 0:
                mass = torch.zeros(len(targets), self.trie.nodes_per_depth[depth],
                                   device=state.device)  # fmt: skip
                mass.index_add_(1, self.trie.node_ids[depth], teacher)  # [M, M_d]
                q = mass.gather(1, children.clamp(min=0)).masked_fill(children < 0, 0.0)
                q = q / q.sum(dim=1, keepdim=True).clamp_min(1e-12)
            elif teacher_state is not None and distill_weight > 0 and depth == last:
                weight, bias = self.node_table(depth, detach_items=True)
                safe = children.clamp(min=0)
                dense = torch.einsum("md,mcd->mc", teacher_state, weight[safe]) + bias[safe]
                q = dense.masked_fill(children < 0, float("-inf")).softmax(dim=1)
            if q is not None:
                kl = q * (q.clamp_min(1e-12).log() - logp.masked_fill(children < 0, 0.0))
                loss = loss + distill_weight * kl.sum(dim=1)
            if depth < len(self.trie.node_ids) - 1:
                state = self.advance(state, node, depth)
            parent = node
        return loss
