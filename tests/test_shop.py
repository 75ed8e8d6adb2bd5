"""The seed article's shop, end to end: an electronics catalog with categories and prices, trained
through ``genrec train``, answers requests in English and Chinese with the catalog's noun, within
the stated bounds; the same data in the seed's data.csv layout trains and answers too."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import genrec
from genrec.cli import main
from genrec.serving.service import LoadedModel, Query

CATEGORIES = {  # category: (brands, price range)
    "Laptops": (["Apple MacBook", "Dell XPS", "Lenovo ThinkPad", "HP Spectre", "Asus ZenBook"],
                (700, 2500)),
    "Headphones": (["Sony WH", "Bose QuietComfort", "Sennheiser Momentum", "AKG", "Jabra Elite"],
                   (50, 600)),
    "Smartphones": (["iPhone", "Galaxy S", "Pixel", "OnePlus", "Xiaomi Mi"], (200, 1400)),
    "Cameras": (["Canon EOS", "Nikon Z", "Fujifilm X", "Sony Alpha", "Panasonic Lumix"],
                (400, 3000)),
    "Watches": (["Apple Watch", "Garmin Forerunner", "Fitbit Sense", "Amazfit", "Huawei Watch"],
                (100, 900)),
    "Keyboards": (["Logitech MX Keys", "Keychron K", "Razer BlackWidow", "Corsair K", "Ducky One"],
                  (40, 250)),
    "Tablets": (["iPad", "Galaxy Tab", "Surface Go", "Lenovo Tab", "Kindle Fire"], (100, 1200)),
    "Monitors": (["Dell UltraSharp", "LG UltraFine", "BenQ PD", "Asus ProArt", "Samsung Odyssey"],
                 (150, 1500)),
}  # fmt: skip
CONFIG = {"max_epochs": 6, "hidden_size": 32, "num_layers": 1, "num_heads": 2, "inner_size": 64,
          "eval_every": 3, "batch_size": 16, "max_len": 12, "window_stride": 6}  # fmt: skip


def write_shop(root: Path, users: int = 120, seed: int = 0) -> pd.DataFrame:
    """items.csv (160 products, 'Electronics > <category>', prices) and log.csv: each user
    favours two categories (90% of their 14 purchases)."""
    rng = np.random.default_rng(seed)
    rows = []
    for cat, (brands, (low, high)) in CATEGORIES.items():
        for i in range(20):
            brand = brands[i % len(brands)]
            rows.append({"item_id": f"{cat[:3].lower()}{i}", "title": f"{brand} {i + 1}",
                         "category": f"Electronics > {cat}",
                         "price": int(rng.integers(low, high)),
                         "description": f"{brand} {cat.lower()[:-1]}"})  # fmt: skip
    items = pd.DataFrame(rows)
    items.to_csv(root / "items.csv", index=False)
    by_cat = {c: items.index[items["category"].str.endswith(c)].to_numpy() for c in CATEGORIES}
    names = list(CATEGORIES)
    log = []
    for u in range(users):
        liked = rng.choice(len(names), 2, replace=False)
        for t in range(14):
            cat = names[liked[t % 2]] if rng.random() < 0.9 else names[rng.integers(len(names))]
            item = items.at[int(rng.choice(by_cat[cat])), "item_id"]
            log.append({"user_id": f"u{u}", "item_id": item, "timestamp": t + 1})
    pd.DataFrame(log).to_csv(root / "log.csv", index=False)
    return items


def check_answers(model_dir: Path, items: pd.DataFrame) -> None:
    model = genrec.load(model_dir)
    assert model.nouns.en == "products"  # inferred: nothing said what the items are
    category = dict(zip(items["title"], items["category"].str.split(" > ").str[1], strict=True))
    price = dict(zip(items["title"], items["price"], strict=True))
    for request, want, language in [
        ("我想要买一款笔记本电脑", "Laptops", "zh"),
        ("I want to buy a laptop", "Laptops", "en"),
        ("推荐一款降噪耳机，500元以内", "Headphones", "zh"),
    ]:
        answer = model.recommend_with_text(k=5, request=request)  # a user with no history
        titles = [r.title for r in answer.items]
        assert len(titles) >= 3
        assert {category[t] for t in titles} == {want}, (request, titles)
        if "500" in request:
            assert all(price[t] <= 500 for t in titles)
            assert any(u["kind"] == "max" and u["value"] == 500.0 for u in answer.understood)
        if language == "zh":
            # a category found through the encoder is said in the request's own words
            words = "笔记本电脑" if want == "Laptops" else "降噪耳机"
            assert answer.text.startswith(f"您可能会喜欢以下{words}") or answer.text.startswith(
                f"您可能会喜欢以下500元以内的{words}"
            )
        else:
            assert answer.text.startswith("You may like these laptops: ")
        assert titles[0] in answer.text
    served = LoadedModel(model, "v1", model_dir).answer(
        [Query(request="推荐一款降噪耳机，500元以内")]
    )
    assert [u["kind"] for u in served[0].understood] == ["max", "category"]
    assert all(price[r.title] <= 500 for r in served[0].items)


@pytest.mark.slow
def test_the_shop_trains_through_the_cli_and_answers_in_both_languages(tmp_path, capsys):
    items = write_shop(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    out = tmp_path / "model"
    data = ["--data", str(tmp_path / "log.csv"), "--catalog", str(tmp_path / "items.csv")]
    args = ["train", "--model", "generative", *data, "--config", str(tmp_path / "config.json")]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    check_answers(out, items)


@pytest.mark.slow
def test_the_shop_in_the_seed_layout_trains_and_answers(tmp_path, capsys):
    items = write_shop(tmp_path)
    log = pd.read_csv(tmp_path / "log.csv")
    titles = dict(zip(items["item_id"], items["title"], strict=True))
    sessions = []
    for user, frame in log.groupby("user_id"):
        bought = [titles[i] for i in frame["item_id"]]
        for t in range(4, len(bought)):
            history = json.dumps(bought[t - 4 : t])
            sessions.append({"user_id": user, "history": history, "bought": bought[t]})
    pd.DataFrame(sessions).to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    out = tmp_path / "model"
    data = ["--data", str(tmp_path / "data.csv"), "--catalog", str(tmp_path / "items.csv")]
    args = ["train", "--model", "generative", *data, "--layout", "seed"]
    assert (
        main([*args, "--config", str(tmp_path / "config.json"), "--out", str(out), "--quiet"]) == 0
    )
    capsys.readouterr()
    check_answers(out, items)
