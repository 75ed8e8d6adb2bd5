"""Shared fixtures; the datasets themselves live in synthetic.py."""

from __future__ import annotations

import os

import pytest

from genrec.data.schema import Dataset

from synthetic import checkerboard

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def board() -> Dataset:
    return checkerboard()
