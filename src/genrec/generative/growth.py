"""Growing a trained generator network to a catalog with appended items, without retraining."""

from __future__ import annotations

from dataclasses import replace

import torch

from genrec.generative.model import GenerativeNet
from genrec.indexing import TrieTensors


def _sibling_mean(
    table: torch.Tensor, new_rows: torch.Tensor, groups: torch.Tensor, old_count: int
) -> torch.Tensor:
    """Initial values for new rows: the mean of the existing rows in the same group, else the
    mean of all existing rows. table [M_old, ...]; groups [M_new_total] group of every row."""
    out = []
    overall = table[:old_count].mean(dim=0)
    for row in new_rows.tolist():
        same = (groups[:old_count] == groups[row]).nonzero().flatten()
        out.append(table[same].mean(dim=0) if len(same) else overall)
    return torch.stack(out) if out else table[:0]


def extend_network(
    net: GenerativeNet,
    codes: torch.Tensor,
    trie: TrieTensors,
    text_vectors: torch.Tensor | None = None,
) -> GenerativeNet:
    """Grow a trained network to a catalog with appended items (their codes, and where the
    network reads them their text vectors, already known): new nodes and items start from their
    siblings' embeddings; nothing is retrained."""
    old = net.shape
    new_shape = replace(
        old, n_items=int(codes.shape[0]), nodes_per_depth=tuple(trie.nodes_per_depth)
    )
    grown = GenerativeNet(new_shape, codes, trie, text_vectors)
    state = net.state_dict()
    with torch.no_grad():
        grown.load_state_dict(
            {k: v for k, v in state.items()
             if not k.startswith(("item_embedding", "node_embeddings", "node_bias"))},
            strict=False,
        )  # fmt: skip
        parent_depth = len(trie.node_ids) - 2
        # items: rows 1..n keep theirs; new items copy their prefix siblings; the start row moves
        old_items = net.item_embedding.weight[1 : old.n_items + 1]
        item_groups = trie.node_ids[parent_depth] if parent_depth >= 0 else torch.zeros(
            new_shape.n_items, dtype=torch.long)  # fmt: skip
        new_items = torch.arange(old.n_items, new_shape.n_items)
        weight = grown.item_embedding.weight
        weight[: old.n_items + 1] = net.item_embedding.weight[: old.n_items + 1]
        weight[old.n_items + 1 : new_shape.n_items + 1] = _sibling_mean(
            old_items, new_items, item_groups, old.n_items
        )
        weight[grown.bos_id] = net.item_embedding.weight[net.bos_id]
        for depth in range(len(trie.node_ids)):
            old_count = old.nodes_per_depth[depth]
            groups = trie.parent_of[depth]
            fresh = torch.arange(old_count, new_shape.nodes_per_depth[depth])
            bias = grown.node_bias[depth]
            bias[:old_count] = net.node_bias[depth]
            bias[old_count:] = _sibling_mean(net.node_bias[depth], fresh, groups, old_count)
            if depth < len(net.node_embeddings):
                table, _ = grown.node_table(depth)
                old_table, _ = net.node_table(depth)
                table[:old_count] = old_table
                table[old_count:] = _sibling_mean(old_table, fresh, groups, old_count)
    return grown
