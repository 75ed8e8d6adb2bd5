"""Typed, frozen configuration: one loader for every component's dataclass.

A config file is JSON or TOML whose keys are the dataclass's fields; an unknown key or a value of
the wrong type is an error that names it. Each config class has a ``validate()`` that raises
``ConfigError`` for values out of range.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Protocol, TypeVar


class ConfigError(ValueError):
    """A configuration file or value that cannot be used."""


class _Config(Protocol):
    def validate(self) -> None: ...


C = TypeVar("C")


def _check_type(name: str, value: Any, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _check_type(name, value, option)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"'{name}' has a bad value {value!r}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"'{name}' must be a list, got {value!r}")
        args = typing.get_args(annotation)
        inner = args[0] if args else Any
        return tuple(_check_type(name, v, inner) for v in value)
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"'{name}' must be a number, got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"'{name}' must be an integer, got {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"'{name}' must be true or false, got {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"'{name}' must be a string, got {value!r}")
        return value
    return value


def from_dict(cls: type[C], values: dict[str, Any], *, source: str = "config") -> C:
    """Build and validate a config dataclass from plain values, naming any bad key."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {unknown} for {cls.__name__}; known: {sorted(fields)}"
        )
    checked = {}
    for key, value in values.items():
        try:
            checked[key] = _check_type(key, value, hints[key])
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    config = cls(**checked)
    validate = getattr(config, "validate", None)
    if validate is not None:
        try:
            validate()
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    return typing.cast(C, config)


def read_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON or TOML file into a dict."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {file} does not exist")
    text = file.read_text()
    try:
        if file.suffix == ".toml":
            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"config file {file} is not valid {file.suffix[1:] or 'JSON'}: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {file} must hold a table/object of settings")
    return data


def load(cls: type[C], path: str | Path | None = None, **overrides: Any) -> C:
    """The one loader: defaults, then the file's values, then explicit overrides."""
    values = read_file(path) if path is not None else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return from_dict(cls, values, source=str(path) if path else "config")


def require(condition: bool, message: str) -> None:
    """Raise ``ConfigError(message)`` unless ``condition`` holds; for ``validate()`` methods."""
    if not condition:
        raise ConfigError(message)
