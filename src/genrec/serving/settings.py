"""Typed settings of the HTTP service: command-line flags > ``GENREC_*`` environment > file.

Every setting has a default except ``model_dir``. A config file is JSON or TOML whose keys are the
field names below; an unknown key is an error that names it. Lists (``api_keys``,
``cors_origins``) are comma-separated in the environment: ``GENREC_API_KEYS=key1,key2``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    JsonConfigSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from genrec.abtest import POLICIES, TrafficSplit
from genrec.config import ConfigError


class ServeSettings(BaseSettings):
    """What ``genrec serve`` and :func:`genrec.serving.app.create_app` run with."""

    model_config = SettingsConfigDict(env_prefix="GENREC_", extra="forbid", frozen=True)

    model_dir: Path = Field(description="a saved model, or a folder of model versions")
    db: str | None = Field(
        default=None,
        description="feedback store URL (sqlite:///file or postgresql://...); "
        "default: feedback.sqlite3 in the model folder",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="keys accepted as 'Authorization: Bearer KEY'"
    )
    insecure_dev: bool = Field(
        default=False, description="allow starting with no API key (write endpoints open)"
    )
    require_key_for_reads: bool = Field(
        default=False, description="also require a key for recommendations and item lookups"
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    max_k: int = Field(default=100, ge=1, le=1000)
    max_history: int = Field(default=1000, ge=1)
    max_request_chars: int = Field(default=1000, ge=1)
    max_exclude: int = Field(default=1000, ge=0)
    batch_max: int = Field(default=64, ge=1, le=4096, description="queries decoded together")
    batch_wait_ms: float = Field(
        default=1.0, ge=0.0, le=1000.0, description="how long a batch waits for its next query"
    )
    batch_window_ms: float = Field(
        default=5.0, ge=0.0, le=10000.0, description="the longest a batch gathers queries"
    )
    torch_threads: int = Field(
        default=0, ge=0, le=256, description="threads for model inference (0: PyTorch's default)"
    )
    encoder_precision: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto",
        description="the request text encoder's arithmetic: bfloat16 is about three times "
        "faster in batches, at a cosine of .9999 to float32; auto takes it where the CPU has "
        "AMX matrix units",
    )
    english_reader: bool = Field(
        default=True,
        description="also read English (ASCII) requests that name no category with "
        "all-MiniLM-L6-v2 for the category leaning; off: the multilingual encoder alone",
    )
    feedback_batch_max: int = Field(default=256, ge=1)
    reload_poll_seconds: float = Field(
        default=0.0, ge=0.0, description="check the model folder for a newer version (0: never)"
    )
    learn_every: int = Field(
        default=0,
        ge=0,
        description="fine-tune on feedback after this many new events, then reload (0: never)",
    )
    learn_every_minutes: float = Field(
        default=0.0,
        ge=0.0,
        description="fine-tune on the feedback of the last this-many minutes, if there is any, "
        "then reload (0: never; with learn_every too, whichever comes first)",
    )
    learn_config: Path | None = Field(
        default=None, description="FinetuneConfig file for online learning (JSON or TOML)"
    )
    learn_check_seconds: float = Field(default=2.0, gt=0.0)
    log_served: bool = Field(default=True, description="store every served list")
    online_days: float = Field(
        default=7.0, gt=0.0, description="days of served lists the online metrics cover"
    )
    online_window_hours: float = Field(
        default=24.0, gt=0.0, description="how long after serving a positive event answers a list"
    )
    online_refresh_seconds: float = Field(
        default=30.0, ge=0.0, description="recompute the online metrics at most this often"
    )
    ab: str | None = Field(
        default=None,
        description="A/B test: CANDIDATE=SHARE, e.g. v0004=20%: that version of the model "
        "folder (or a saved model path) answers SHARE of users, by a stable hash of the user id",
    )
    promote_on_win: str | None = Field(
        default=None,
        description="with ab: 'win' makes the candidate CURRENT once its acceptance is "
        "significantly higher; 'not-worse' once the difference's 95% lower bound is above "
        "-ab_margin; a candidate significantly worse ends the test",
    )
    ab_min_lists: int = Field(
        default=1000, ge=1, description="lists each arm needs before the test is decided"
    )
    ab_margin: float = Field(
        default=0.01, ge=0.0, lt=1.0, description="acceptance a 'not-worse' candidate may lose"
    )
    page_users: int = Field(default=200, ge=0, description="user ids offered on the web page")

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("ab")
    @classmethod
    def _ab_split(cls, value: str | None) -> str | None:
        if value is not None:
            TrafficSplit.parse(value)  # a ValueError names what is wrong
        return value

    @field_validator("promote_on_win")
    @classmethod
    def _policy(cls, value: str | None) -> str | None:
        if value is not None and value not in POLICIES:
            raise ValueError(f"must be one of {', '.join(POLICIES)}")
        return value

    @field_validator("api_keys")
    @classmethod
    def _keys_long_enough(cls, value: list[str]) -> list[str]:
        short = [k for k in value if len(k) < 16]
        if short:
            raise ValueError("every API key must be at least 16 characters long")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            JsonConfigSettingsSource(settings_cls),
            TomlConfigSettingsSource(settings_cls),
        )

    @property
    def write_auth_required(self) -> bool:
        return bool(self.api_keys)

    @property
    def learns_online(self) -> bool:
        return self.learn_every > 0 or self.learn_every_minutes > 0

    def check_startable(self) -> None:
        """Refuse to serve with open write endpoints unless explicitly asked to, or to promote
        without a test."""
        if self.promote_on_win and not self.ab:
            raise ConfigError("--promote-on-win needs an A/B test: give --ab CANDIDATE=SHARE")
        if not self.api_keys and not self.insecure_dev:
            raise ConfigError(
                "no API key configured: set GENREC_API_KEYS=key1,key2 (or api_keys in the config "
                "file); to run with open write endpoints for development, pass --insecure-dev"
            )


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> ServeSettings:
    """Settings from ``overrides`` (command-line flags), then the environment, then the file.

    ``None`` overrides are dropped, so an unset flag falls through to the environment and file.
    """
    values = {k: v for k, v in overrides.items() if v is not None}
    klass: type[ServeSettings] = ServeSettings
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        suffix = path.suffix.lower()
        if suffix not in (".json", ".toml"):
            raise ConfigError(f"config file {path}: use .json or .toml, not '{suffix}'")
        key = "json_file" if suffix == ".json" else "toml_file"
        klass = type(
            "FileServeSettings",
            (ServeSettings,),
            {"model_config": {**ServeSettings.model_config, key: path}},
        )
    try:
        return klass(**values)
    except ValidationError as exc:
        raise ConfigError(settings_error(exc)) from None
    except ValueError as exc:  # a malformed JSON/TOML file
        raise ConfigError(f"config file {config_file}: {exc}") from None


def settings_error(exc: ValidationError) -> str:
    """One line per problem: 'setting: message'."""
    parts = []
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]) or "settings"
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown setting"
        elif err["type"] == "missing":
            message = "is required (flag, GENREC_" + name.upper() + " or config file)"
        parts.append(f"{name}: {message}")
    return "bad settings: " + "; ".join(parts)
