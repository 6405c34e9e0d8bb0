"""pytest fixtures for the interop tests (ikepy and strongSwan in network namespaces).

Fixtures
--------
``interop_env``      checks root, charon, swanctl, ip, /dev/net/tun; skips LOUDLY
                     with what is missing and how to install it (fails under CI=true)
``netns``            a fresh ``Netns`` (left 10.99.0.1 <-> right 10.99.0.2, v6
                     fd00:99::1/::2, inner 10.1.0.1 / 10.2.0.1), torn down after the test
``netns_nat``        ``Netns`` with left behind a masquerading NAT namespace
                     (right is 10.98.0.2)
``charon_factory``   ``charon_factory(ns, swanctl_conf, name=..., **start_kw) -> Charon``;
                     every charon is stopped after the test and its log tail is
                     printed when the test failed
``ikepy_factory``    ``ikepy_factory(ns, config_text, fmt="swanctl", dataplane="none",
                     name=...) -> IkepyDaemon``; stopped (and exit status checked
                     by the test, if it wants) after the test

Every test in this folder carries the ``interop`` marker (``-m "not interop"``
leaves them out).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    INSTALL_HINT,
    Charon,
    IkepyDaemon,
    Netns,
    missing_requirements,
)

_HERE = Path(__file__).resolve().parent


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require_or_skip(missing: list[str]) -> None:
    """Skip with a loud reason, or fail when CI=true (CI must run everything)."""
    if not missing:
        return
    msg = (
        "INTEROP TESTS NOT RUN: missing " + "; ".join(missing)
        + f". Install with: {INSTALL_HINT}; run pytest as root."
    )
    if _in_ci():
        pytest.fail(msg + " (CI=true: interop tests must run, so this is a failure)",
                    pytrace=False)
    pytest.skip(msg)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(_HERE):
            item.add_marker(pytest.mark.interop)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture(scope="session")
def interop_env() -> None:
    require_or_skip(missing_requirements())


@pytest.fixture
def netns(interop_env):
    topo = Netns.create()
    try:
        yield topo
    finally:
        topo.close()


@pytest.fixture
def netns_nat(interop_env):
    require_or_skip(missing_requirements(nat=True))
    topo = Netns.create(nat=True)
    try:
        yield topo
    finally:
        topo.close()


def _failed(request) -> bool:
    rep = getattr(request.node, "rep_call", None)
    return rep is None or rep.failed


@pytest.fixture
def charon_factory(interop_env, tmp_path, request):
    started: list[Charon] = []

    def factory(ns: str, swanctl_conf: str, name: str | None = None, **start_kw) -> Charon:
        name = name or f"charon{len(started)}"
        c = Charon(tmp_path / name, name=name)
        started.append(c)
        c.start(ns, swanctl_conf, **start_kw)
        return c

    yield factory
    failed = _failed(request)
    for c in started:
        if failed:
            sys.stderr.write(f"\n----- {c.name} charon log ({c.log_path}) -----\n{c.log_tail(60)}\n")
        c.stop()


@pytest.fixture
def ikepy_factory(interop_env, tmp_path, request):
    started: list[IkepyDaemon] = []

    def factory(ns: str, config_text: str, fmt: str = "swanctl", dataplane: str = "none",
                name: str | None = None, **start_kw) -> IkepyDaemon:
        name = name or f"ikepy{len(started)}"
        d = IkepyDaemon(tmp_path / name, name=name)
        started.append(d)
        d.start(ns, config_text, fmt=fmt, dataplane=dataplane, **start_kw)
        return d

    yield factory
    failed = _failed(request)
    for d in started:
        if failed:
            sys.stderr.write(f"\n----- {d.name} log ({d.log_path}) -----\n{d.log_tail(60)}\n")
        if d.running:
            d.stop()
