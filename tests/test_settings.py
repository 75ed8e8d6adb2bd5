"""Service settings: flags beat the environment, which beats the config file."""

from __future__ import annotations

import json

import pytest

from genrec.config import ConfigError
from genrec.serving.settings import ServeSettings, load_settings

KEY = "k" * 20


def test_defaults_need_only_a_model_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("GENREC_API_KEYS", raising=False)
    settings = load_settings(model_dir=tmp_path)
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8000, 1)
    assert settings.api_keys == [] and settings.cors_origins == []
    with pytest.raises(ConfigError, match="insecure-dev"):
        settings.check_startable()


def test_lists_come_comma_separated_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GENREC_API_KEYS", f"{KEY}, {'m' * 16}")
    monkeypatch.setenv("GENREC_CORS_ORIGINS", "https://a.example,https://b.example")
    settings = load_settings(model_dir=tmp_path)
    assert settings.api_keys == [KEY, "m" * 16]
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    settings.check_startable()


def test_flags_beat_environment_beat_file(tmp_path, monkeypatch):
    config = tmp_path / "serve.toml"
    config.write_text(f'model_dir = "{tmp_path}"\nport = 7000\nworkers = 3\nbatch_max = 8\n')
    monkeypatch.setenv("GENREC_WORKERS", "2")
    settings = load_settings(config, port=9000, host=None)
    assert (settings.port, settings.workers, settings.batch_max) == (9000, 2, 8)
    assert settings.host == "127.0.0.1"


def test_json_config_files_work_and_unknown_keys_are_named(tmp_path):
    config = tmp_path / "serve.json"
    config.write_text(json.dumps({"model_dir": str(tmp_path), "max_k": 50}))
    assert load_settings(config).max_k == 50
    config.write_text(json.dumps({"model_dir": str(tmp_path), "max_kk": 50}))
    with pytest.raises(ConfigError, match="max_kk: unknown setting"):
        load_settings(config)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"port": 70000}, "port"),
        ({"workers": 0}, "workers"),
        ({"api_keys": ["short"]}, "at least 16 characters"),
        ({"batch_wait_ms": -1}, "batch_wait_ms"),
    ],
)
def test_bad_values_name_the_setting(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(model_dir=tmp_path, **overrides)


def test_a_missing_model_dir_or_config_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("GENREC_MODEL_DIR", raising=False)
    with pytest.raises(ConfigError, match="model_dir: is required"):
        load_settings()
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", model_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"use \.json or \.toml"):
        (tmp_path / "s.yaml").write_text("x: 1")
        load_settings(tmp_path / "s.yaml", model_dir=tmp_path)


def test_settings_round_trip_through_json_for_worker_processes(tmp_path):
    settings = load_settings(model_dir=tmp_path, api_keys=[KEY], port=1234)
    again = ServeSettings.model_validate(json.loads(settings.model_dump_json()))
    assert again == settings
