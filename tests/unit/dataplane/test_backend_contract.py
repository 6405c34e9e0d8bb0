"""One contract, every backend: the same engine events drive the in-memory, userspace
and XFRM data planes (docs/contracts.md). XFRM runs here against a recording fake
kernel; tests/kernelvm/guest/test_backend_contract_kernel.py runs it on a real one."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "xfrm"))

from backend_contract import run_contract  # noqa: E402


def _memory():
    from ikepy.dataplane.memory import MemoryBackend

    return MemoryBackend()


def _userspace():
    from ikepy.dataplane.userspace.backend import UserspaceBackend

    # no TUN and no routes: the contract is about what the engine asks for
    return UserspaceBackend(lambda *a: None, install_routes=False, raw_esp=False,
                            deliver=lambda pkt: None)


def _xfrm_fake_kernel():
    from test_backend import FakeNl  # tests/unit/xfrm: records netlink requests

    from ikepy.dataplane.xfrm import XfrmBackend

    return XfrmBackend(netlink=FakeNl(), rng=random.Random(7))  # type: ignore[arg-type]


@pytest.mark.parametrize("make", [_memory, _userspace, _xfrm_fake_kernel],
                         ids=["memory", "userspace", "xfrm-fake-kernel"])
def test_backend_contract(make):
    run_contract(make())
