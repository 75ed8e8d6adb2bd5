"""Shared fixtures; the datasets themselves live in synthetic.py."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from filelock import FileLock

import genrec
from genrec.data.schema import Dataset
from genrec.e5 import set_process_precision
from genrec.indexing import E5Encoder
from genrec.minilm import set_process_reader
from genrec.recommender import Recommender

from synthetic import checkerboard, log_beta_lovers, saved_generative_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # One torch thread per test worker: `make test` runs as many workers as there are cores,
    # and more threads than cores make OpenMP's waiting threads steal each other's time.
    import torch

    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def float32_encoders() -> Iterator[None]:
    """Each test starts with the process's encoder precision at float32: a service built by
    an earlier test in this worker sets it to its own (``auto``); the same for the English
    reader, which a service can turn off."""
    set_process_precision("float32")
    set_process_reader(True)
    yield
    set_process_precision("float32")
    set_process_reader(True)


@pytest.fixture(scope="session")
def encoder() -> E5Encoder:
    """The multilingual request encoder (one per test process; its network loads once)."""
    return E5Encoder()


@pytest.fixture
def board() -> Dataset:
    return checkerboard()


@pytest.fixture
def model(tiny_model_dir: Path) -> Recommender:
    """The tiny generative model, loaded afresh (tests may change it)."""
    return genrec.load(tiny_model_dir)


@pytest.fixture
def store_url(tmp_path: Path, model: Recommender) -> str:
    """A SQLite store where 20 users liked the beta items they were shown (see synthetic.py)."""
    return str(log_beta_lovers(model, f"sqlite:///{tmp_path / 'fb.sqlite3'}"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The tiny generative model of synthetic.py, trained once per test session and shared by
    the xdist workers (read-only: copy it before writing beside it)."""
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent
    target = shared / "tiny-generative"
    with FileLock(str(shared / "tiny-generative.lock")):
        if not (target / "genrec.json").is_file():
            saved_generative_model(target)
    return target


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random GPT-2 with a tokenizer trained on the synthetic catalogs' titles: the base
    model of LLM-backbone tests (read-only)."""
    from synthetic import checkerboard, mixed_dataset, save_tiny_lm

    titles = sorted({str(t) for d in (checkerboard(), mixed_dataset()) for t in d.catalog.titles})
    return save_tiny_lm(tmp_path_factory.mktemp("tiny-lm"), titles)


# --- PostgreSQL: a fresh database per test -------------------------------------------------
# GENREC_TEST_POSTGRES_URL names a server and a role that may CREATE DATABASE, e.g.
# postgresql://genrec:genrec@127.0.0.1:5432/postgres (scripts/ci-services.sh starts one and prints
# it). Without it the PostgreSQL tests skip, unless GENREC_REQUIRE_SERVICES=1 (CI), when they fail.


def _postgres_server_url() -> str:
    url = os.environ.get("GENREC_TEST_POSTGRES_URL", "").strip()
    if not url:
        reason = (
            "GENREC_TEST_POSTGRES_URL is not set (run scripts/ci-services.sh to start PostgreSQL "
            "and print it)"
        )
        if os.environ.get("GENREC_REQUIRE_SERVICES") == "1":
            pytest.fail(f"GENREC_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL (postgresql://...) of a new, empty database, dropped after the test."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    server = make_url(_postgres_server_url()).set(drivername="postgresql")
    admin_conninfo = server.render_as_string(hide_password=False)
    name = f"genrec_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(admin_conninfo, autocommit=True, connect_timeout=10) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_conninfo, autocommit=True, connect_timeout=10) as admin:
            admin.execute(
                # Only our own client sessions: autovacuum workers may be connected too, and
                # only a superuser may end those (DROP DATABASE stops them by itself).
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend' AND usename = current_user",
                (name,),
            )
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


# Tests that need a service CI installs (PostgreSQL, Chromium) carry a marker, so that
# `make test-fast` can leave them out: -m "not postgres and not browser".
SERVICE_FIXTURES = {"postgres_url": "postgres", "browser": "browser"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, marker in SERVICE_FIXTURES.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(getattr(pytest.mark, marker))
