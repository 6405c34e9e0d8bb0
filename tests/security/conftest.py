"""Fixtures for the security tests (SECURITY.md).

The in-memory tests drive two sans-I/O engines through ``ikepy.ikev2.simulate``;
the namespace tests (files ending in ``_netns.py`` or ``_daemon.py``) reuse the
interop harness (``tests/interop/harness.py``): network namespaces, strongSwan's
charon and the ikepy daemon. Those carry the ``interop`` marker and skip loudly
without root (they fail under ``CI=true``, like the interop suite).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE))
sys.path.insert(0, str(_HERE.parent / "interop"))

from harness import INSTALL_HINT, Charon, IkepyDaemon, Netns, missing_requirements  # noqa: E402


def _require(missing: list[str]) -> None:
    if not missing:
        return
    msg = ("SECURITY NAMESPACE TESTS NOT RUN: missing " + "; ".join(missing)
           + f". Install with: {INSTALL_HINT}; run pytest as root.")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg + " (CI=true: these tests must run)", pytrace=False)
    pytest.skip(msg)


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(str(item.fspath)).resolve()
        if path.parent == _HERE and (path.stem.endswith("_netns") or path.stem.endswith("_daemon")):
            item.add_marker(pytest.mark.interop)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"sec_rep_{rep.when}", rep)


def _failed(request) -> bool:
    rep = getattr(request.node, "sec_rep_call", None)
    return rep is None or rep.failed


@pytest.fixture
def sec_netns():
    _require(missing_requirements())
    topo = Netns.create()
    try:
        yield topo
    finally:
        topo.close()


@pytest.fixture
def sec_charon(tmp_path, request):
    started: list[Charon] = []

    def factory(ns: str, conf: str, name: str | None = None, **kw) -> Charon:
        name = name or f"charon{len(started)}"
        c = Charon(tmp_path / name, name=name)
        started.append(c)
        c.start(ns, conf, **kw)
        return c

    yield factory
    for c in started:
        if _failed(request):
            sys.stderr.write(f"\n----- {c.name} log -----\n{c.log_tail(60)}\n")
        c.stop()


@pytest.fixture
def sec_ikepy(tmp_path, request):
    started: list[IkepyDaemon] = []

    def factory(ns: str, conf: str, name: str | None = None, **kw) -> IkepyDaemon:
        name = name or f"ikepy{len(started)}"
        d = IkepyDaemon(tmp_path / name, name=name)
        started.append(d)
        d.start(ns, conf, **kw)
        return d

    yield factory
    for d in started:
        if _failed(request):
            sys.stderr.write(f"\n----- {d.name} log -----\n{d.log_tail(80)}\n")
        if d.running:
            d.stop()
