"""The registry: ``genrec.load`` picks the class from the folder, kinds register once, and
installed packages can add kinds through entry points."""

from __future__ import annotations

import json
import shutil

import pytest

import genrec
from genrec import models
from genrec.baselines.itemknn import ItemKNNRecommender
from genrec.baselines.popular import PopularRecommender
from genrec.recommender import ModelDirError, Recommender

from synthetic import checkerboard


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models") / "pop"
    PopularRecommender().fit(checkerboard(), seed=0).save(folder)
    return folder


def test_load_picks_the_class_the_folder_names(saved):
    model = genrec.load(saved)
    assert type(model) is PopularRecommender
    assert PopularRecommender.load(saved).recommend(user="u1", k=3) == model.recommend("u1", k=3)


def test_loading_through_the_wrong_class_or_the_abstract_base_is_a_clear_error(saved):
    with pytest.raises(ModelDirError, match="holds a 'popular' model, not ItemKNNRecommender"):
        ItemKNNRecommender.load(saved)
    with pytest.raises(TypeError, match=r"genrec.load\(path\)"):
        Recommender.load(saved)


def test_a_folder_of_an_unknown_kind_or_format_names_the_problem(saved, tmp_path):
    other = shutil.copytree(saved, tmp_path / "m")
    meta = json.loads((other / "genrec.json").read_text())
    (other / "genrec.json").write_text(json.dumps({**meta, "model": "mystery"}))
    with pytest.raises(ModelDirError, match="'mystery' model, a kind this genrec does not know"):
        genrec.load(other)
    (other / "genrec.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(ModelDirError, match="model format 99 is not supported"):
        genrec.load(other)
    (other / "genrec.json").write_text(json.dumps({**meta, "config": {"surprise": 1}}))
    with pytest.raises(ModelDirError, match="saved config does not fit"):
        genrec.load(other)
    with pytest.raises(ModelDirError, match="not a genrec model directory"):
        genrec.load(tmp_path)


def test_register_refuses_a_taken_kind_or_a_class_without_one(monkeypatch):
    monkeypatch.setattr(models, "_REGISTERED", dict(models._REGISTERED))

    class Impostor(PopularRecommender):
        kind = "popular"

    with pytest.raises(ValueError, match="already taken by PopularRecommender"):
        models.register(Impostor)
    assert models.register(PopularRecommender) is PopularRecommender  # the same class: harmless

    class Nameless(PopularRecommender):
        kind = ""

    with pytest.raises(ValueError, match="needs a class attribute kind"):
        models.register(Nameless)


def test_installed_packages_add_kinds_through_entry_points(monkeypatch):
    class Plugin(PopularRecommender):
        kind = "plugin-popular"

    class Entry:
        def load(self) -> type[Recommender]:
            return Plugin

    monkeypatch.setattr(models, "_REGISTERED", dict(models._REGISTERED))
    monkeypatch.setattr(models, "_plugins_loaded", False)
    monkeypatch.setattr(models, "entry_points", lambda group: [Entry()])
    assert models.model_class("plugin-popular") is Plugin
    assert "plugin-popular" in models.registry()
