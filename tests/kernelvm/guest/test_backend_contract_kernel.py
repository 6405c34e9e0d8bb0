"""The data plane contract (tests/unit/dataplane/backend_contract.py) against the
guest's real kernel: the same engine events that drive the in-memory and userspace
backends install, rekey and remove real XFRM states and policies. No daemon and no
charon: the peer is a second engine in this process, so it is cheap under emulation."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "dataplane"))

from backend_contract import run_contract  # noqa: E402

from ikepy.dataplane.xfrm import XfrmBackend  # noqa: E402
from ikepy.dataplane.xfrm.backend import REQID_BASE  # noqa: E402


def test_backend_contract_on_the_kernel():
    run_contract(XfrmBackend())
    # close() left nothing of ikepy's behind (its kernel reqids: REQID_BASE + 0..0xffff)
    for what in ("state", "policy"):
        out = subprocess.run(["ip", "xfrm", what], capture_output=True, text=True).stdout
        ours = [int(r) for r in re.findall(r"reqid (\d+)", out)
                if REQID_BASE <= int(r) <= REQID_BASE + 0xFFFF]
        assert ours == [], f"ikepy's {what}s left behind: {ours}"
