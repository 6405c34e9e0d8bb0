"""The syntax tests here use short throwaway secrets such as ``x``: the PSK
strength check (config/psk_strength.py) is switched off for them, and
test_psk_strength.py tests it on its own."""

import pytest

from ikepy.config import psk_strength


@pytest.fixture(autouse=True)
def _no_psk_strength_floor(request, monkeypatch):
    if request.module.__name__.endswith("test_psk_strength"):
        return
    monkeypatch.setattr(psk_strength, "REFUSE_BITS", 0)
    monkeypatch.setattr(psk_strength, "WARN_BITS", 0)
