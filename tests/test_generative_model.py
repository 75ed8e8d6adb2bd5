"""The generator network's hand-written inference forward against the transformers GPT-2."""

from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, GPT2Model

from genrec.generative.model import gpt2_inference, inference_supported


def _backbone(**overrides: object) -> GPT2Model:
    settings: dict[str, object] = {"activation_function": "gelu_pytorch_tanh", **overrides}
    config = GPT2Config(  # type: ignore[call-arg]
        vocab_size=1, n_positions=12, n_embd=16, n_layer=2, n_head=4, n_inner=24,
        attn_implementation="sdpa", **settings,
    )  # fmt: skip
    torch.manual_seed(0)
    model = GPT2Model(config).eval()
    with torch.no_grad():  # weights far from the init so that every term matters
        for p in model.parameters():
            p.normal_(0.0, 0.5)
    return model


@pytest.mark.parametrize("lengths", [[12], [12, 5, 1], [3, 7, 12, 9]])
def test_inference_forward_equals_the_library_at_every_real_position(lengths):
    model = _backbone()
    t = max(lengths)
    mask = (torch.arange(t)[None] < torch.tensor(lengths)[:, None]).long()  # right padding
    embeds = torch.randn(len(lengths), t, 16) * mask[..., None]
    with torch.no_grad():
        expected = model(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        got = gpt2_inference(model, embeds)
    real = mask.bool()
    assert torch.allclose(got[real], expected[real], atol=1e-5, rtol=1e-5)
    last = torch.tensor(lengths) - 1
    with torch.no_grad():
        at_last = gpt2_inference(model, embeds, last)
    assert torch.allclose(at_last, expected[torch.arange(len(lengths)), last], atol=1e-5, rtol=1e-5)


def test_configurations_it_does_not_cover_use_the_library():
    assert inference_supported(_backbone())
    assert not inference_supported(_backbone(scale_attn_by_inverse_layer_idx=True))
    assert not inference_supported(_backbone(activation_function="relu"))
