"""The serving core without HTTP: model folders and versions, batched answers, fallbacks."""

from __future__ import annotations

import pytest

from genrec.recommender import ModelDirError
from genrec.serving.service import LoadedModel, ModelHolder, Query


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir):
    return tiny_model_dir


@pytest.fixture(scope="module")
def loaded(model_dir):
    return LoadedModel.load(model_dir)


def test_batched_answers_equal_one_by_one_answers(loaded):
    queries = [
        Query(user_id="u1", k=5),
        Query(history=["a1", "b2"], request="Show me beta movies", k=3),
        Query(request="我想看一部Alpha电影", k=4),
        Query(user_id="u2", k=6, categories=["Alpha"]),
        Query(user_id="u3", k=2, exclude_seen=False),
    ]
    together = loaded.answer(queries)
    alone = [loaded.answer([q])[0] for q in queries]
    for a, b in zip(together, alone, strict=True):
        assert [r.item_id for r in a.items] == [r.item_id for r in b.items]
        assert [r.score for r in a.items] == pytest.approx([r.score for r in b.items], abs=1e-4)


def test_answers_exclude_history_and_excludes_and_keep_the_category(loaded):
    history = loaded.model.histories["u1"]
    seen = {str(loaded.catalog.item_ids[i]) for i in history}
    [plain, filtered] = loaded.answer(
        [Query(user_id="u1", k=8, exclude=["a0"]), Query(user_id="u1", k=8, categories=["beta"])]
    )
    assert not seen & {r.item_id for r in plain.items}
    assert "a0" not in {r.item_id for r in plain.items}
    assert filtered.items and all(r.item_id.startswith("b") for r in filtered.items)


def test_nothing_to_go_on_means_popular_items_flagged_as_fallback(loaded):
    [answer] = loaded.answer([Query(user_id="stranger", k=3)])
    assert answer.fallback
    assert len(answer.items) == 3
    assert any("unknown" in w for w in answer.warnings)
    counts = [int(loaded.popularity[loaded.catalog.index_of(r.item_id)]) for r in answer.items]
    assert counts == sorted(counts, reverse=True)


def test_unknown_history_items_are_ignored_and_reported(loaded):
    [answer] = loaded.answer([Query(history=["a1", "nope", "b3"], k=3)])
    assert not answer.fallback
    assert answer.history == ["a1", "b3"]
    assert any("'nope'" in w for w in answer.warnings)


def test_a_request_alone_is_a_cold_start_not_a_fallback(loaded):
    [answer] = loaded.answer([Query(request="Show me beta movies", k=4)])
    assert not answer.fallback
    assert sum(r.item_id.startswith("b") for r in answer.items) >= 3


def test_catalog_search_puts_title_prefixes_first(loaded):
    found = [loaded.catalog.titles[i] for i in loaded.search("beta", 5)]
    assert len(found) == 5 and all(t.startswith("Beta") for t in found)
    assert [loaded.catalog.titles[i] for i in loaded.search("volume 3", 5)] == [
        "Beta chronicle volume 3"
    ]
    assert loaded.search("no such title", 5) == []


def test_reload_swaps_only_when_a_new_version_appears(tmp_path, model_dir):
    import shutil

    shutil.copytree(model_dir, tmp_path / "v0001")
    holder = ModelHolder(tmp_path)
    first = holder.load().version
    assert holder.reload() == (False, first, first)
    shutil.copytree(model_dir, tmp_path / "v0002")
    swapped, version, before = holder.reload()
    assert swapped and before == first and version != first
    assert holder.current.path == tmp_path / "v0002"


def test_a_failed_reload_keeps_the_old_model(tmp_path, model_dir):
    import shutil

    shutil.copytree(model_dir, tmp_path / "v0001")
    holder = ModelHolder(tmp_path)
    holder.load()
    broken = tmp_path / "v0002"
    broken.mkdir()
    (broken / "genrec.json").write_text('{"format_version": 999}')
    with pytest.raises(ModelDirError):
        holder.reload()
    assert holder.current.path == tmp_path / "v0001"
