"""Catalog titles as token sequences: disambiguation and the title trie for constrained decoding.

A language model recommends an item by writing its title. Every item therefore needs a title
that no other item has (:func:`unique_titles`), and decoding may only follow token paths that
spell one of them (:class:`TitleTrie`).

Target convention (used by decoding now and by training later): item ``i``'s target is
``tokenizer(prefix + title_i, add_special_tokens=False).input_ids + [eos_token_id]``, with
``prefix = " "`` by default. The model reads the prompt ids (built by the caller, special
tokens included if the model wants a BOS) and then generates the target; the EOS terminator
marks where a title ends, so a title whose tokens are a prefix of another's ("Alien" and
"Alien 3") is still its own leaf. Choose the prefix so that ``prompt_ids + target_ids(i)``
is what the tokenizer makes of the joined text: ``" "`` for byte-level BPE (GPT-2, Llama 3,
Qwen) after a prompt that does not end in whitespace; ``""`` for SentencePiece tokenizers that
add the word-start marker themselves (T5). Never re-tokenize the joined text for training:
concatenate the ids.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from transformers import PreTrainedTokenizerBase


def unique_titles(titles: Sequence[str], item_ids: Sequence[str]) -> list[str]:
    """One distinct display title per item, independent of catalog order.

    Whitespace is normalised (runs collapse to one space, ends stripped). Every title held by
    more than one item gets the suffix ``" [item_id]"``; an empty title becomes ``"[item_id]"``.
    The rule is repeated until no two items share a title (a suffixed title could equal another
    item's own title), so each result depends only on the set of (title, id) pairs, never on
    their order. Item ids must be distinct.
    """
    if len(titles) != len(item_ids):
        raise ValueError(f"{len(titles)} titles but {len(item_ids)} item ids")
    ids = [str(i) for i in item_ids]
    if len(set(ids)) != len(ids):
        dup = next(i for i, c in Counter(ids).items() if c > 1)
        raise ValueError(f"duplicate item id '{dup}'")
    result = [" ".join(str(t).split()) for t in titles]
    result = [t if t else f"[{i}]" for t, i in zip(result, ids, strict=True)]
    for _ in range(len(result) + 1):  # each round lengthens every clashing title
        counts = Counter(result)
        clashing = [n for n, t in enumerate(result) if counts[t] > 1]
        if not clashing:
            return result
        for n in clashing:
            result[n] = f"{result[n]} [{ids[n]}]"
    raise AssertionError("title disambiguation did not converge")  # unreachable: ids differ


class TitleTrie:
    """A token trie over the targets (title + EOS) of every item, stored as flat arrays.

    Nodes are numbered in depth-first preorder with children in ascending token order; node 0 is
    the root (nothing generated yet). Arrays, all int64:

    - ``child_ptr`` [n_nodes + 1], ``child_tokens`` [n_nodes - 1], ``child_nodes`` [n_nodes - 1]:
      CSR children; node ``v``'s children are ``child_nodes[child_ptr[v]:child_ptr[v + 1]]``,
      reached by the (sorted) tokens ``child_tokens[...]`` of the same slice.
    - ``node_token``, ``node_parent``, ``node_depth`` [n_nodes]: the edge into each node
      (-1 for the root) and its depth (tokens from the root).
    - ``node_item`` [n_nodes]: the item whose target ends at this node (leaves only), else -1.
      Leaves are exactly the nodes reached by EOS and have no children.
    - ``leaf_lo``, ``leaf_hi`` [n_nodes]: the leaves under a node are the items of ranks
      ``leaf_lo .. leaf_hi - 1`` in preorder; ``rank_item`` [n_items] maps a rank to its item and
      ``item_node`` [n_items] an item to its leaf. With a per-request prefix count of allowed
      leaves (:meth:`leaf_counts`) the number of allowed items under any node is one
      subtraction, so filters prune whole subtrees at any depth.
    """

    def __init__(
        self, tokenizer: PreTrainedTokenizerBase, titles: Sequence[str], *, prefix: str = " "
    ) -> None:
        """Tokenize ``prefix + title`` for every (already unique) title; see the module notes.

        Raises ValueError if the tokenizer has no EOS token, if a title's tokens contain EOS, or
        if two titles tokenize to the same ids (a lossy tokenizer, e.g. unknown characters).
        """
        eos = tokenizer.eos_token_id
        if eos is None:
            raise ValueError("the tokenizer has no EOS token, which terminates every title")
        if not titles:
            raise ValueError("no titles")
        pad = tokenizer.pad_token_id
        self.titles: list[str] = [str(t) for t in titles]
        self.prefix = prefix
        self.eos_token_id = int(eos)
        self.pad_token_id = int(pad) if pad is not None else int(eos)
        encoded = tokenizer([prefix + t for t in self.titles], add_special_tokens=False)
        self._targets: list[tuple[int, ...]] = []
        for title, ids in zip(self.titles, encoded["input_ids"], strict=True):
            if self.eos_token_id in ids:
                raise ValueError(f"title {title!r} tokenizes to ids containing EOS")
            self._targets.append((*(int(t) for t in ids), self.eos_token_id))
        self._build()

    def _build(self) -> None:
        n_items = len(self._targets)
        order = sorted(range(n_items), key=lambda i: self._targets[i])
        tokens: list[int] = [-1]
        parents: list[int] = [-1]
        depths: list[int] = [0]
        lo: list[int] = [0]
        hi: list[int] = [0]
        node_item: list[int] = [-1]
        item_node = np.zeros(n_items, dtype=np.int64)
        path = [0]  # nodes from the root to the previous target's leaf
        previous: tuple[int, ...] = ()
        for rank, item in enumerate(order):
            target = self._targets[item]
            common = 0
            while common < min(len(target), len(previous)) and target[common] == previous[common]:
                common += 1
            if common == len(target):
                other = self.titles[order[rank - 1]]
                raise ValueError(
                    f"titles {other!r} and {self.titles[item]!r} tokenize to the same ids; "
                    "make them distinct (see unique_titles) or use a lossless tokenizer"
                )
            del path[common + 1 :]
            for depth in range(common, len(target)):
                tokens.append(target[depth])
                parents.append(path[-1])
                depths.append(depth + 1)
                lo.append(rank)
                hi.append(rank)
                node_item.append(-1)
                path.append(len(tokens) - 1)
            for node in path:
                hi[node] = rank + 1
            node_item[path[-1]] = item
            item_node[item] = path[-1]
            previous = target
        self.node_token = np.array(tokens, dtype=np.int64)
        self.node_parent = np.array(parents, dtype=np.int64)
        self.node_depth = np.array(depths, dtype=np.int64)
        self.node_item = np.array(node_item, dtype=np.int64)
        self.leaf_lo = np.array(lo, dtype=np.int64)
        self.leaf_hi = np.array(hi, dtype=np.int64)
        self.item_node = item_node
        self.rank_item = np.array(order, dtype=np.int64)
        # Preorder with sorted targets lists each parent's children in ascending token order,
        # so a stable sort by parent gives the CSR layout directly.
        children = np.argsort(self.node_parent[1:], kind="stable") + 1
        self.child_nodes = children.astype(np.int64)
        self.child_tokens = self.node_token[children]
        counts = np.bincount(self.node_parent[1:], minlength=self.n_nodes)
        self.child_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    @property
    def n_items(self) -> int:
        return len(self._targets)

    @property
    def n_nodes(self) -> int:
        return len(self.node_token)

    @property
    def max_depth(self) -> int:
        """Tokens in the longest target, EOS included (the most decoding steps)."""
        return int(self.node_depth.max())

    def __repr__(self) -> str:
        return (
            f"TitleTrie(items={self.n_items}, nodes={self.n_nodes}, max_depth={self.max_depth}, "
            f"prefix={self.prefix!r})"
        )

    def target_ids(self, index: int) -> list[int]:
        """Item ``index``'s target: the ids of ``prefix + title`` followed by EOS."""
        return list(self._targets[index])

    def children(self, node: int) -> tuple[np.ndarray, np.ndarray]:
        """(tokens, child nodes) of ``node``, tokens ascending."""
        start, end = self.child_ptr[node], self.child_ptr[node + 1]
        return self.child_tokens[start:end], self.child_nodes[start:end]

    def child(self, node: int, token: int) -> int:
        """The child of ``node`` reached by ``token``, or -1 when the title cannot go on so."""
        tokens, nodes = self.children(node)
        at = int(np.searchsorted(tokens, token))
        return int(nodes[at]) if at < len(tokens) and tokens[at] == token else -1

    def walk(self, token_ids: Sequence[int]) -> int:
        """The node that ``token_ids`` leads to from the root, or -1 if it leaves the trie."""
        node = 0
        for token in token_ids:
            node = self.child(node, int(token))
            if node < 0:
                return -1
        return node

    def leaf_counts(self, allowed: np.ndarray) -> np.ndarray:
        """Prefix counts of allowed leaves in trie order: [B, N] bool -> [B, N + 1] int64.

        ``counts[b, j]`` is how many of the first ``j`` leaves (in preorder) request ``b`` allows.
        """
        ranked = np.asarray(allowed, dtype=bool)[:, self.rank_item]  # [B, N]
        counts = np.zeros((ranked.shape[0], ranked.shape[1] + 1), dtype=np.int64)
        np.cumsum(ranked, axis=1, out=counts[:, 1:])
        return counts

    def allowed_under(self, counts: np.ndarray, rows: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """How many allowed items lie under each node: ``rows`` index ``counts``' requests."""
        return counts[rows, self.leaf_hi[nodes]] - counts[rows, self.leaf_lo[nodes]]

    def first_allowed(self, counts: np.ndarray, rows: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """The first allowed item (in trie order) under each node; each must have one."""
        width = counts.shape[1]
        flat = (counts + np.arange(len(counts))[:, None] * width).ravel()  # nondecreasing
        base = rows * width
        wanted = counts[rows, self.leaf_lo[nodes]] + 1 + base
        rank = np.searchsorted(flat, wanted, side="left") - base - 1
        return self.rank_item[rank]
