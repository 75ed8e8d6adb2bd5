"""Title-constrained decoding: unique titles, the title trie, and beam search against brute force.

Everything is built on the fly: a byte-level BPE tokenizer trained on the titles (saved and
reloaded through ``AutoTokenizer``), and tiny random GPT-2, Llama and T5 models.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import (
    AutoTokenizer,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    T5Config,
    T5ForConditionalGeneration,
)

from genrec.llm import TitleTrie, constrained_beam_search, score_all_titles, unique_titles

from synthetic import tiny_tokenizer

TITLES = [
    "Alien",
    "Alien 3",
    "Aliens",
    "Alien: Resurrection",
    "Heat",
    "Heat",
    "Toy Story",
    "Toy Story 2",
    "Toy Story 3",
    "Casino",
    "千与千寻",
    "The Matrix",
    "The Matrix Reloaded",
    "The Mask",
    "Up",
    "Jaws",
    "Jaws 2",
    "Fargo",
    "Se7en",
    "Babe",
    "Babe: Pig in the City",
    "Twister",
    "Twelve Monkeys",
    "Crash",
    "Crash",
    "Heat",
    "Clueless",
    "Speed",
    "Speed 2: Cruise Control",
    "  The   Rock ",
    "",
]
ITEM_IDS = [f"m{i}" for i in range(1, len(TITLES) + 1)]
PROMPTS = [
    "I want a funny movie for tonight",
    "Something scary with aliens",
    "我想看动画片",
    "A heist",
]
MODEL_NAMES = ["gpt2", "llama", "t5"]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> PreTrainedTokenizerBase:
    wrapped = tiny_tokenizer([" " + t for t in TITLES] + PROMPTS, vocab_size=300)
    folder: Path = tmp_path_factory.mktemp("title-tokenizer")
    wrapped.save_pretrained(folder)
    return AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="module")
def titles() -> list[str]:
    return unique_titles(TITLES, ITEM_IDS)


@pytest.fixture(scope="module")
def trie(tokenizer: PreTrainedTokenizerBase, titles: list[str]) -> TitleTrie:
    return TitleTrie(tokenizer, titles)


def _build(name: str, vocab: int) -> PreTrainedModel:
    torch.manual_seed(0)
    model: PreTrainedModel
    if name == "gpt2":
        model = GPT2LMHeadModel(
            GPT2Config(
                vocab_size=vocab,
                n_positions=64,
                n_layer=2,
                n_head=2,
                n_embd=32,
                resid_pdrop=0.0,
                embd_pdrop=0.0,
                attn_pdrop=0.0,
                bos_token_id=1,
                eos_token_id=1,
                pad_token_id=0,
            )
        )
    elif name == "llama":
        model = LlamaForCausalLM(
            LlamaConfig(
                vocab_size=vocab,
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=2,
                num_attention_heads=2,
                num_key_value_heads=1,
                max_position_embeddings=64,
                bos_token_id=1,
                eos_token_id=1,
                pad_token_id=0,
            )
        )
    else:
        model = T5ForConditionalGeneration(
            T5Config(
                vocab_size=vocab,
                d_model=32,
                d_kv=16,
                d_ff=64,
                num_layers=2,
                num_heads=2,
                dropout_rate=0.0,
                eos_token_id=1,
                pad_token_id=0,
                decoder_start_token_id=0,
            )
        )
    with torch.no_grad():  # a wide spread, so that the ranking of titles is far from flat
        for param in model.parameters():
            if param.ndim > 1:
                param.normal_(0.0, 0.3)
    return model.eval()


@pytest.fixture(scope="module")
def lms(tokenizer: PreTrainedTokenizerBase) -> dict[str, PreTrainedModel]:
    return {name: _build(name, len(tokenizer)) for name in MODEL_NAMES}


@pytest.fixture(scope="module")
def prompt_ids(tokenizer: PreTrainedTokenizerBase) -> list[list[int]]:
    ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in PROMPTS]
    assert len({len(p) for p in ids}) > 1  # prompts of different lengths
    return ids


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


# --- titles ---------------------------------------------------------------------------------


def test_duplicate_titles_are_disambiguated_independently_of_catalog_order() -> None:
    result = unique_titles(TITLES, ITEM_IDS)
    assert len(set(result)) == len(result)
    by_id = dict(zip(ITEM_IDS, result, strict=True))
    assert by_id["m1"] == "Alien"  # unique titles are kept
    assert {by_id["m5"], by_id["m6"], by_id["m26"]} == {"Heat [m5]", "Heat [m6]", "Heat [m26]"}
    assert by_id["m30"] == "The Rock"  # whitespace normalised
    assert by_id["m31"] == "[m31]"  # empty title
    order = np.random.default_rng(0).permutation(len(TITLES))
    shuffled = unique_titles([TITLES[i] for i in order], [ITEM_IDS[i] for i in order])
    assert dict(zip([ITEM_IDS[i] for i in order], shuffled, strict=True)) == by_id


def test_a_suffixed_title_that_equals_another_title_is_suffixed_again() -> None:
    result = unique_titles(["A", "A", "A [1]"], ["1", "2", "3"])
    assert len(set(result)) == 3
    assert result == unique_titles(["A [1]", "A", "A"], ["3", "2", "1"])[::-1]


def test_every_trie_path_spells_exactly_one_catalog_title(
    tokenizer: PreTrainedTokenizerBase, trie: TitleTrie, titles: list[str]
) -> None:
    leaves: dict[int, list[int]] = {}
    stack: list[tuple[int, list[int]]] = [(0, [])]
    while stack:
        node, path = stack.pop()
        tokens, nodes = trie.children(node)
        assert np.all(np.diff(tokens) > 0)  # sorted, no duplicate edges
        if trie.node_item[node] >= 0:
            assert len(tokens) == 0 and path[-1] == trie.eos_token_id
            leaves[int(trie.node_item[node])] = path
        else:
            assert len(tokens) > 0
        for token, child in zip(tokens, nodes, strict=True):
            stack.append((int(child), [*path, int(token)]))
    assert sorted(leaves) == list(range(len(titles)))  # one leaf per item
    for item, path in leaves.items():
        assert trie.eos_token_id not in path[:-1]
        assert tokenizer.decode(path[:-1]) == " " + titles[item]
        assert trie.target_ids(item) == path
        assert trie.walk(path) == trie.item_node[item]
    assert trie.n_nodes == 1 + len(trie.child_nodes)
    assert trie.max_depth == max(len(p) for p in leaves.values())
    # "Alien" is a prefix of "Alien 3" and "Aliens" in tokens, kept apart by EOS.
    alien = trie.walk(trie.target_ids(0)[:-1])
    assert alien > 0 and trie.leaf_hi[alien] - trie.leaf_lo[alien] == 4


def test_titles_that_tokenize_alike_are_rejected(tokenizer: PreTrainedTokenizerBase) -> None:
    with pytest.raises(ValueError, match="same ids"):
        TitleTrie(tokenizer, ["Heat", "Alien", "Heat"])


# --- beam search against brute force ---------------------------------------------------------


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_a_beam_as_wide_as_the_catalog_finds_the_brute_force_top_k(
    name: str, lms: dict[str, PreTrainedModel], trie: TitleTrie, prompt_ids: list[list[int]]
) -> None:
    model = lms[name]
    exact = score_all_titles(model, trie, prompt_ids)
    assert exact.shape == (len(prompt_ids), trie.n_items) and np.all(exact < 0)
    # Probabilities of all targets sum to at most 1 (the trie holds only some sequences).
    assert np.all(np.exp(exact).sum(axis=1) <= 1.0 + 1e-6)
    k = 10
    for fast_forward in (False, True):
        items, scores = constrained_beam_search(
            model, trie, prompt_ids, k, trie.n_items, fast_forward=fast_forward
        )
        np.testing.assert_array_equal(items, _top(exact, k))
        np.testing.assert_allclose(scores, np.take_along_axis(exact, items, 1), atol=1e-4)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_batched_prompts_of_different_lengths_match_one_by_one(
    name: str, lms: dict[str, PreTrainedModel], trie: TitleTrie, prompt_ids: list[list[int]]
) -> None:
    model = lms[name]
    items, scores = constrained_beam_search(model, trie, prompt_ids, 5, 4)
    exact = score_all_titles(model, trie, prompt_ids)
    for row, prompt in enumerate(prompt_ids):
        one_items, one_scores = constrained_beam_search(model, trie, [prompt], 5, 4)
        np.testing.assert_array_equal(one_items[0], items[row])
        np.testing.assert_allclose(one_scores[0], scores[row], atol=1e-4)
        np.testing.assert_allclose(
            score_all_titles(model, trie, [prompt])[0], exact[row], atol=1e-4
        )


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_excluded_and_unallowed_items_never_appear(
    name: str, lms: dict[str, PreTrainedModel], trie: TitleTrie, prompt_ids: list[list[int]]
) -> None:
    model = lms[name]
    exact = score_all_titles(model, trie, prompt_ids)
    best = _top(exact, 3)
    exclude = [set(best[row].tolist()) for row in range(len(prompt_ids))]
    allowed = np.ones(trie.n_items, dtype=bool)
    allowed[[0, 1, 2, 3]] = False  # every "Alien" title
    k = 6
    items, scores = constrained_beam_search(
        model, trie, prompt_ids, k, trie.n_items, exclude=exclude, allowed=allowed
    )
    for row in range(len(prompt_ids)):
        assert len(set(items[row].tolist())) == k  # k distinct real items
        assert not set(items[row].tolist()) & (exclude[row] | {0, 1, 2, 3})
        masked = exact[row].copy()
        masked[~allowed] = -np.inf
        masked[list(exclude[row])] = -np.inf
        np.testing.assert_array_equal(items[row], _top(masked[None], k)[0])
        np.testing.assert_allclose(scores[row], masked[items[row]], atol=1e-4)
    # A narrow beam still returns k items whenever k are allowed.
    narrow, _ = constrained_beam_search(
        model, trie, prompt_ids, k, exclude=exclude, allowed=allowed
    )
    assert np.all(narrow >= 0)
    assert all(len(set(row.tolist())) == k for row in narrow)


def test_fewer_allowed_items_than_k_are_padded(
    lms: dict[str, PreTrainedModel], trie: TitleTrie, prompt_ids: list[list[int]]
) -> None:
    allowed = np.zeros((len(prompt_ids), trie.n_items), dtype=bool)
    allowed[0, [4, 5]] = True  # "Heat [m5]", "Heat [m6]": a shared prefix, then one each
    allowed[1, 10] = True
    items, scores = constrained_beam_search(lms["gpt2"], trie, prompt_ids, 3, allowed=allowed)
    assert sorted(items[0, :2].tolist()) == [4, 5] and items[0, 2] == -1
    assert items[1].tolist() == [10, -1, -1]
    assert np.all(items[2:] == -1) and np.all(np.isneginf(scores[2:]))
    assert np.all(np.isfinite(scores[0, :2])) and np.isneginf(scores[0, 2])


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_fast_forward_on_and_off_give_identical_results(
    name: str, lms: dict[str, PreTrainedModel], trie: TitleTrie, prompt_ids: list[list[int]]
) -> None:
    model = lms[name]
    exclude = [{1}, set(), {7, 8}, set()]
    for k, width in ((1, 1), (3, 3), (5, 8)):
        fast = constrained_beam_search(model, trie, prompt_ids, k, width, exclude=exclude)
        slow = constrained_beam_search(
            model, trie, prompt_ids, k, width, exclude=exclude, fast_forward=False
        )
        np.testing.assert_array_equal(fast[0], slow[0])
        np.testing.assert_allclose(fast[1], slow[1], atol=1e-4)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_prefix_scores_complete_titles_without_the_model_and_bound_the_exact_ones(
    name: str, lms: dict[str, PreTrainedModel], trie: TitleTrie, prompt_ids: list[list[int]]
) -> None:
    model = lms[name]
    items, scores = constrained_beam_search(model, trie, prompt_ids, 6, 8, exact=False)
    exact = score_all_titles(model, trie, prompt_ids)
    for row in range(len(prompt_ids)):
        assert len(set(items[row].tolist())) == 6 and (items[row] >= 0).all()
        # A bound up to float32 rounding: the prefix is summed step by step here and in one
        # teacher-forced batch there, so a title whose remaining tokens are near-certain can
        # come out a few 1e-6 above its prefix score.
        assert (scores[row] >= exact[row, items[row]] - 1e-4).all()
        assert (np.diff(scores[row]) <= 0).all()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_random_prompts_never_yield_an_invalid_item(
    name: str,
    lms: dict[str, PreTrainedModel],
    tokenizer: PreTrainedTokenizerBase,
    trie: TitleTrie,
) -> None:
    model = lms[name]
    rng = np.random.default_rng(1)
    prompts = [
        rng.integers(2, len(tokenizer), size=rng.integers(1, 16)).tolist() for _ in range(24)
    ]
    k = 5
    items, scores = constrained_beam_search(model, trie, prompts, k, 2)
    assert items.shape == (len(prompts), k)
    assert np.all((items >= 0) & (items < trie.n_items))
    assert all(len(set(row.tolist())) == k for row in items)
    assert np.all(np.diff(scores, axis=1) <= 1e-9)  # best first
    exact = score_all_titles(model, trie, prompts)  # reported scores are exact
    np.testing.assert_allclose(scores, np.take_along_axis(exact, items, 1), atol=1e-4)


def test_the_model_mode_is_restored(
    lms: dict[str, PreTrainedModel], trie: TitleTrie, prompt_ids: list[list[int]]
) -> None:
    model = lms["gpt2"]
    model.train()
    try:
        constrained_beam_search(model, trie, prompt_ids[:1], 2)
        assert model.training
    finally:
        model.eval()
