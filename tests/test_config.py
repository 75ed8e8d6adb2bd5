import pytest

from genrec.baselines.itemknn import ItemKNNConfig
from genrec.config import ConfigError, load
from genrec.generative.recommender import GenerativeConfig


def test_defaults_then_file_then_overrides(tmp_path):
    path = tmp_path / "knn.toml"
    path.write_text("neighbors = 7\nshrink = 2.5\n")
    config = load(ItemKNNConfig, path, shrink=1.0)
    assert config == ItemKNNConfig(neighbors=7, shrink=1.0)


def test_json_lists_become_tuples(tmp_path):
    path = tmp_path / "gen.json"
    path.write_text('{"codebook_sizes": [16, 8, 4], "max_epochs": 3}')
    config = load(GenerativeConfig, path)
    assert config.codebook_sizes == (16, 8, 4)
    assert config.max_epochs == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"neighbors": "ten"}', "'neighbors' must be an integer"),
        ('{"recency_decay": true}', "'recency_decay' must be a number"),
        ('{"recency_decay": 1.5}', "recency_decay must be in (0, 1]"),
        ('{"nieghbors": 3}', "unknown key(s) ['nieghbors']"),
        ("[1, 2]", "must hold a table/object"),
        ("{not json", "is not valid json"),
    ],
)
def test_bad_values_are_named(tmp_path, text, message):
    path = tmp_path / "c.json"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load(ItemKNNConfig, path)
    assert message in str(error.value)


def test_integers_are_accepted_where_floats_are_expected():
    assert load(ItemKNNConfig, None, shrink=3).shrink == 3.0
