"""Optional extras stay optional: the library and its CLI work without the serving stack, the LLM
backbone's LoRA/GGUF packages and the plotting library, and say which extra a feature needs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVE = {"fastapi", "starlette", "uvicorn", "httptools", "sqlalchemy", "psycopg", "pydantic",
         "pydantic_settings", "prometheus_client"}  # fmt: skip
LLM = {"peft", "gguf", "accelerate"}
OTHER = {"matplotlib", "httpx"}

# Runs in a fresh interpreter where the extras' packages cannot be found (as if not installed).
HIDE_EXTRAS = """
import importlib.machinery, sys

HIDDEN = {hidden!r}


class Hide:
    def __init__(self, inner):
        self.inner = inner

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            return None
        return self.inner.find_spec(name, path, target)

    def __getattr__(self, attr):
        return getattr(self.inner, attr)


sys.meta_path[:] = [Hide(f) if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
"""

LIBRARY_USE = """
import genrec
from genrec import lifecycle
from genrec.cli import main

sys.path.insert(0, {tests!r})
from synthetic import mixed_dataset

model = lifecycle.train("sasrec", mixed_dataset(), {out!r} + "/sasrec", progress=False,
                        overrides={{"max_epochs": 2}})
assert genrec.load({out!r} + "/sasrec").recommend(user="u1", k=3) == model.recommend(user="u1", k=3)
assert main(["recommend", "--model-dir", {out!r} + "/sasrec", "--user", "u1", "-k", "2"]) == 0
assert main(["serve", "--model-dir", {out!r} + "/sasrec", "--insecure-dev"]) == 2
assert main(["feedback", "export", "--model-dir", {out!r}, "--out", {out!r} + "/f.csv"]) == 2
loaded = sorted(set(m.split(".")[0] for m in sys.modules) & HIDDEN)
assert not loaded, loaded
print("library ok")
"""


def test_the_core_dependencies_hold_no_serving_llm_or_plotting_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {d.split("==")[0].split("[")[0].replace("-", "_") for d in project["dependencies"]}
    assert not names & (SERVE | LLM | OTHER), names & (SERVE | LLM | OTHER)
    extras = project["optional-dependencies"]
    assert {"serve", "llm", "dev"} <= set(extras)
    assert any(d.startswith("genrec[") for d in extras["dev"]), "dev installs the other extras"


def test_the_library_and_cli_work_without_the_extras(tmp_path):
    script = HIDE_EXTRAS.format(hidden=SERVE | LLM | OTHER) + LIBRARY_USE.format(
        tests=str(ROOT / "tests"), out=str(tmp_path)
    )
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "library ok" in done.stdout
    assert "pip install 'genrec[serve]'" in done.stderr  # serve and feedback export say so
