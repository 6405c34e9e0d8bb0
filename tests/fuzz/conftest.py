"""Fuzz tests: bounded Hypothesis runs over every parser that reads network or operator input.

They run in the default suite (a few hundred examples each, no deadline); for a
long campaign raise the budget: ``IKEPY_FUZZ_EXAMPLES=20000 pytest tests/fuzz``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_configure(config):
    config.addinivalue_line("markers", "fuzz: bounded fuzz test (runs in the default suite)")


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).resolve().parent
    for item in items:
        if Path(str(item.fspath)).resolve().parent == here:
            item.add_marker(pytest.mark.fuzz)
