"""The LLM backbone as a recommender: prompts, LoRA and full fine-tuning of causal and
encoder-decoder bases, cold-start items, save/load, the CLI. Tiny random models built on the fly
(tests/synthetic.py: save_tiny_lm); SmolLM2 itself is exercised by `make bench`."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import genrec
from genrec.cli import main
from genrec.config import ConfigError
from genrec.llm.base import BaseModelError
from genrec.llm.recommender import LLMConfig, LLMRecommender, build_prompt

from synthetic import GROUP_SIZE, checkerboard, make_dataset, mixed_dataset, save_tiny_lm

FAST = LLMConfig(lora=False, lr=3e-3, epochs=12, batch_size=16, max_examples=0, history_items=5,
                 request_probability=0.0, beam_width=24)  # fmt: skip


def test_prompt_template_v1_names_the_request_and_the_history_oldest_first():
    assert build_prompt(["A (1995)", "B (1996)"], " a comedy ") == (
        "Request: a comedy\nHistory: A (1995); B (1996)\nRecommendation:"
    )
    assert build_prompt([], "") == "Request: (none)\nHistory: (none)\nRecommendation:"


def test_long_histories_drop_their_oldest_titles_to_fit_the_prompt(tiny_lm_dir):
    model = LLMRecommender(replace(FAST, base=str(tiny_lm_dir), epochs=0, history_items=8,
                                   max_prompt_tokens=40))  # fmt: skip
    model.fit(checkerboard(), seed=0)
    history = np.arange(8)
    ids = model.prompt_ids(history, "")
    assert len(ids) <= 40
    text = model.tokenizer.decode(ids)
    assert model.titles[7] in text and model.titles[0] not in text


def test_lora_fine_tuning_learns_merges_and_round_trips(tiny_lm_dir, tmp_path):
    config = replace(FAST, base=str(tiny_lm_dir), lora=True, lr=2e-2, epochs=10, lora_r=8)
    model = LLMRecommender(config).fit(checkerboard(), seed=0)
    assert model.fit_info["steps"] > 0
    out = model.save(tmp_path / "m")
    assert not list((out / "lm").glob("adapter_*")), "LoRA is merged into plain weights"
    loaded = genrec.load(out)
    assert isinstance(loaded, LLMRecommender)
    assert loaded.recommend(user="u0", k=4) == model.recommend(user="u0", k=4)
    assert model.fit_info["final_loss"] < 0.98 * model.fit_info["first_loss"]


def test_same_seed_same_model(tiny_lm_dir):
    config = replace(FAST, base=str(tiny_lm_dir), epochs=2)
    a = LLMRecommender(config).fit(mixed_dataset(), seed=3)
    b = LLMRecommender(config).fit(mixed_dataset(), seed=3)
    assert a.recommend(user="u1", k=5) == b.recommend(user="u1", k=5)


def test_an_encoder_decoder_base_trains_and_recommends_catalog_items(tmp_path):
    data = checkerboard()
    base = save_tiny_lm(tmp_path / "t5", [str(t) for t in data.catalog.titles], kind="t5")
    model = LLMRecommender(replace(FAST, base=str(base), epochs=3)).fit(data, seed=0)
    assert model.encoder_decoder
    recs = model.recommend(user="u1", k=5, request="something quiet")
    assert len({r.item_id for r in recs}) == 5 and all(r.item_id in data.catalog for r in recs)


def test_items_nobody_interacted_with_can_be_recommended(tiny_lm_dir):
    data = checkerboard()
    items = data.catalog.items[["item_id", "title", "categories", "description"]].copy()
    cold = pd.DataFrame({"item_id": ["a99"], "title": [f"Alpha saga part {GROUP_SIZE}"],
                         "categories": [("Alpha",)], "description": [""]})  # fmt: skip
    sequences = {u: [str(data.catalog.item_ids[i]) for i in s] for u, s in data.sequences().items()}
    with_cold = make_dataset(sequences, pd.concat([items, cold], ignore_index=True), "board+")
    model = LLMRecommender(replace(FAST, base=str(tiny_lm_dir))).fit(with_cold, seed=0)
    everything = model.recommend(user="u0", k=100)
    assert "a99" in {r.item_id for r in everything}
    assert np.isfinite([r.score for r in everything]).all()


def test_an_unknown_base_is_a_clear_error(tmp_path):
    with pytest.raises(BaseModelError, match="neither 'smollm2' nor a folder"):
        LLMRecommender(replace(FAST, base=str(tmp_path / "nothing"))).fit(checkerboard())
    with pytest.raises(ConfigError, match="prompt_version"):
        LLMRecommender(replace(FAST, prompt_version="v0"))


def test_cli_trains_an_llm_from_a_local_base_and_recommends(tiny_lm_dir, tmp_path, capsys):
    data = checkerboard()
    ids = data.catalog.item_ids
    frame = data.interactions.assign(item_id=ids[data.interactions["item_index"].to_numpy()])
    frame[["user_id", "item_id", "timestamp"]].to_csv(tmp_path / "log.csv", index=False)
    pd.DataFrame({"item_id": ids, "title": data.catalog.titles}).to_csv(
        tmp_path / "items.csv", index=False
    )
    (tmp_path / "llm.json").write_text(json.dumps({"epochs": 1, "max_examples": 32}))
    argv = ["train", "--model", "llm", "--data", str(tmp_path / "log.csv"), "--catalog",
            str(tmp_path / "items.csv"), "--base", str(tiny_lm_dir), "--no-lora", "--config",
            str(tmp_path / "llm.json"), "--out", str(tmp_path / "m"), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    saved = json.loads((tmp_path / "m" / "genrec.json").read_text())
    assert saved["config"]["lora"] is False and saved["config"]["prompt_version"] == "v1"
    capsys.readouterr()
    assert main(["recommend", "--model-dir", str(tmp_path / "m"), "--user", "u1", "-k", "3",
                 "--json"]) == 0  # fmt: skip
    assert len(json.loads(capsys.readouterr().out)["items"]) == 3
    argv = ["train", "--model", "sasrec", "--data", str(tmp_path / "log.csv"), "--catalog",
            str(tmp_path / "items.csv"), "--base", "x", "--out", str(tmp_path / "s")]  # fmt: skip
    assert main(argv) == 2
    assert "--base does not apply to --model sasrec" in capsys.readouterr().err
