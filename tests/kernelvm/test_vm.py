"""Boot the kernel VM once and run tests/kernelvm/guest inside it (host side).

The host kernel has no ESP, so the XFRM backend's real-traffic tests (ikepy
vs charon with kernel-netlink, both roles, AES-GCM and AES-CBC+HMAC, with and
without UDP encapsulation) run in a Debian kernel under QEMU booted by the
testbed's kernel-vm.sh (see tools/kernel_vm.py). One boot, a few minutes.

Skipped loudly when: not root / not Linux, kernel-vm.sh is not found,
IKEPY_KERNEL_VM=0, or the last measured run took longer than the budget
(IKEPY_KERNEL_VM_BUDGET seconds, default 600). Under CI=true a missing
requirement is a failure; the time budget is still a skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import kernel_vm  # noqa: E402

pytestmark = [pytest.mark.root, pytest.mark.interop]

BUDGET = float(os.environ.get("IKEPY_KERNEL_VM_BUDGET", "600"))


def _skip_or_fail(msg: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg + " (CI=true: this is a failure)", pytrace=False)
    pytest.skip(msg)


def test_xfrm_backend_in_kernel_vm():
    if os.environ.get("IKEPY_KERNEL_VM") == "0":
        pytest.skip("KERNEL VM TESTS NOT RUN: IKEPY_KERNEL_VM=0")
    if sys.platform != "linux" or os.geteuid() != 0:
        _skip_or_fail("KERNEL VM TESTS NOT RUN: need Linux and root (QEMU, namespaces)")
    if kernel_vm.find_script() is None:
        _skip_or_fail("KERNEL VM TESTS NOT RUN: kernel-vm.sh not found (expected at "
                      "../shared/testbed/kernel-vm.sh beside the checkout, or set "
                      "IKEPY_KERNEL_VM_SH)")
    last = kernel_vm.last_duration()
    if last is not None and last > BUDGET:
        pytest.skip(f"KERNEL VM TESTS NOT RUN: the last boot + run took {last:.0f}s, over the "
                    f"budget of {BUDGET:.0f}s (IKEPY_KERNEL_VM_BUDGET)")
    out = kernel_vm.work_dir() / "out"
    for name in ("junit.xml", "pytest.log"):
        (out / name).unlink(missing_ok=True)
    try:
        rc, text, secs = kernel_vm.run_vm(kernel_vm.guest_command([]), timeout=BUDGET)
    except subprocess.TimeoutExpired:
        kernel_vm.record_duration(BUDGET + 1)
        _skip_or_fail(f"KERNEL VM TESTS NOT FINISHED: killed after the {BUDGET:.0f}s budget")
        return
    kernel_vm.record_duration(secs)
    print(text[-20000:])
    junit = out / "junit.xml"
    assert junit.exists(), f"the guest wrote no junit.xml (exit status {rc}):\n{text[-4000:]}"
    suite = ET.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    assert suite is not None
    tests, failures, errors, skipped = (int(suite.get(k, 0)) for k in
                                        ("tests", "failures", "errors", "skipped"))
    assert rc == 0 and failures == errors == 0, text[-6000:]
    assert tests > 0 and skipped == 0, f"{tests} tests, {skipped} skipped in the guest"
