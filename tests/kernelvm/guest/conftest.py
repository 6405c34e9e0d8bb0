"""Tests that run *inside* the kernel VM (a Debian kernel with ESP under QEMU).

The host kernel of the test machines has XFRM but no ESP, so these only make
sense in the guest that ``tools/kernel_vm.py`` boots; ``tests/kernelvm/test_vm.py``
does that from an ordinary pytest run on the host. Outside the guest (no
``IKEPY_IN_KERNEL_VM=1``) every test here is skipped, on purpose and not as
a CI failure: the host-side test is the one that runs them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "interop"))


def pytest_collection_modifyitems(config, items):
    if os.environ.get("IKEPY_IN_KERNEL_VM") == "1":
        return
    skip = pytest.mark.skip(reason="runs inside the kernel VM only (tests/kernelvm/test_vm.py "
                                   "boots it: python tools/kernel_vm.py)")
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def warm_caches():
    """The guest reads the host's files over 9p: the first run of swanctl/charon
    takes about a minute (cold cache), later ones seconds. Pay that once here,
    outside the tests' timeouts."""
    if os.environ.get("IKEPY_IN_KERNEL_VM") != "1":
        return
    import subprocess

    warm = ("cat /usr/lib/ipsec/charon /usr/lib/ipsec/lib*.so* /usr/lib/ipsec/plugins/*.so "
            "/usr/lib/x86_64-linux-gnu/libcrypto.so* > /dev/null 2>&1")
    for argv in (["sh", "-c", warm], ["swanctl", "--version"], ["ip", "-V"], ["ping", "-V"]):
        subprocess.run(argv, capture_output=True, timeout=300, check=False)
