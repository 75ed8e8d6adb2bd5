"""The OpenAPI document tells the truth: schemathesis, as a client generator would, against the app.

Each operation gets its examples, the boundary and negative cases of the coverage phase, random
requests, then stateful sequences, and every built-in check runs on each answer: no 5xx; only
documented statuses, content types, headers and bodies; schema-valid requests accepted and
schema-invalid ones refused; the API key required exactly where the document declares it.
In process through ASGI (no socket), bounded and seeded so a run takes seconds and repeats.

The run goes through schemathesis's engine, as ``st run`` does, rather than its pytest plugin:
the plugin's fixture-based loader does not work with pytest 9.2, and the engine runs every phase
and counts cases.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.engine import events, from_schema
from schemathesis.python.asgi import shutdown_lifespans

from genrec.serving.app import create_app
from genrec.serving.settings import ServeSettings

KEY = "openapi-test-key-0123456789"
EXAMPLES_PER_OPERATION = 25
PAST = "2024-05-17T09:30:15Z"


@pytest.fixture
def model_root(tmp_path: Path, tiny_model_dir: Path) -> Path:
    shutil.copytree(tiny_model_dir, tmp_path / "models" / "v0001")  # the store goes beside it
    return tmp_path / "models"


def load_schema(settings: ServeSettings) -> Any:
    """The app's own document, with the key sent to the operations it says need one."""
    app = create_app(settings, load_in_background=False)
    config = schemathesis.Config.from_dict(
        {
            "seed": 0,
            "auth": {"openapi": {"HTTPBearer": {"bearer": KEY}}},
            "generation": {"max-examples": EXAMPLES_PER_OPERATION, "database": "none"},
        }
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    schema.hook("map_body").apply_to(path="/v1/feedback")(feedback_in_the_past)
    return schema


def feedback_in_the_past(context: Any, body: Any) -> Any:
    """Feedback dated more than a day ahead is refused (422) by a rule JSON Schema cannot state,
    as it moves with the clock (the document says it in words): generated dates stay past."""
    if not isinstance(body, dict) or not isinstance(body.get("timestamp"), str):
        return body
    try:
        stamp = datetime.fromisoformat(body["timestamp"])
    except ValueError:
        return body  # not a date: the service must refuse it, and the checks see that it does
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return {**body, "timestamp": PAST} if stamp > datetime.now(UTC) else body


def run(schema: Any) -> tuple[int, list[str]]:
    """Run every phase; (cases sent, one line per distinct failure or error)."""
    cases = 0
    problems: dict[str, None] = {}  # ordered and without repeats
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            cases += len(event.recorder.cases)
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        line = f"{failure.operation}: {failure.title}: {failure.message}"
                        problems[f"{line}\n    {check.failure_info.code_sample}"] = None
        elif isinstance(event, events.NonFatalError):
            problems[f"{event.label}: {event.value!r}"] = None
        elif isinstance(event, events.FatalError):
            raise event.exception
    return cases, list(problems)


@pytest.fixture
def stop_lifespans() -> Iterator[None]:
    yield
    shutdown_lifespans()  # schemathesis started the app's lifespan with its first request


@pytest.mark.usefixtures("stop_lifespans")
@pytest.mark.parametrize("reads_need_a_key", [False, True], ids=["public-reads", "keyed-reads"])
def test_the_service_answers_as_its_openapi_document_says(
    model_root: Path, reads_need_a_key: bool
) -> None:
    settings = ServeSettings(
        model_dir=model_root,
        api_keys=[KEY],
        require_key_for_reads=reads_need_a_key,
        batch_wait_ms=0.0,
    )
    cases, problems = run(load_schema(settings))
    assert not problems, "\n".join(problems)
    assert cases > 300  # every phase ran
