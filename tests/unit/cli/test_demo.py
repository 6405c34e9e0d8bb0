"""`ikepy demo`: two runtimes in one loop over loopback UDP (needs the engine)."""

from __future__ import annotations

import asyncio
import importlib.util
import io

import pytest


@pytest.mark.skipif(importlib.util.find_spec("ikepy.ikev2.manager") is None,
                    reason="needs the IKEv2 engine (ikepy.ikev2.manager), which is not written yet")
def test_demo_negotiates_lists_and_deletes():
    from ikepy.cli.demo import run_demo

    out = io.StringIO()
    assert asyncio.run(asyncio.wait_for(run_demo(out), 30)) == 0
    text = out.getvalue()
    assert text.count("ESTABLISHED, IKEv2") == 2
    assert "_i* " in text and "_r*" in text  # one initiator, one responder
    assert "local  10.1.0.0/24" in text and "local  10.2.0.0/24" in text
    assert "both sides deleted" in text
