"""Anti-replay window, RFC 4303 3.4.3 and Appendix A (A2 for ESN)."""

from __future__ import annotations

import pytest

from ikepy.dataplane.userspace.replay import ReplayWindow


def accept(w: ReplayWindow, seq_low: int) -> int:
    full = w.check(seq_low)
    if full >= 0:
        w.update(full)
    return full


def test_in_order_and_duplicate() -> None:
    w = ReplayWindow(64)
    for s in range(1, 10):
        assert accept(w, s) == s
    assert w.check(5) == -1  # duplicate
    assert w.check(9) == -1
    assert w.check(10) == 10


def test_zero_is_never_valid() -> None:
    assert ReplayWindow(64).check(0) == -1


def test_window_edges() -> None:
    w = ReplayWindow(64)
    accept(w, 100)
    assert w.check(100 - 63) == 100 - 63  # right at the left edge: inside
    assert w.check(100 - 64) == -1  # just left of the window: too old
    assert accept(w, 37) == 37
    assert w.check(37) == -1


def test_out_of_order_inside_window() -> None:
    w = ReplayWindow(32)
    for s in (5, 3, 4, 1, 2):
        assert accept(w, s) == s
    for s in range(1, 6):
        assert w.check(s) == -1


def test_large_jump_clears_bitmap() -> None:
    w = ReplayWindow(16)
    accept(w, 3)
    accept(w, 1000)
    assert w.check(3) == -1  # far left of the window now
    assert w.check(999) == 999
    assert w.check(1000) == -1


def test_check_does_not_update() -> None:
    """check() before integrity, update() only after it succeeded: a forged
    packet (check passes, ICV fails, no update) neither moves the window nor
    burns its sequence number."""
    w = ReplayWindow(64)
    accept(w, 10)
    assert w.check(10_000) == 10_000  # forged far-ahead number: not recorded
    assert w.top == 10
    assert w.check(9) == 9  # still acceptable, window did not move
    assert accept(w, 11) == 11


def test_window_zero_disables() -> None:
    w = ReplayWindow(0)
    assert accept(w, 5) == 5
    assert accept(w, 5) == 5
    assert accept(w, 1) == 1


def test_default_size_1024() -> None:
    w = ReplayWindow()
    accept(w, 2000)
    assert w.check(2000 - 1023) >= 0
    assert w.check(2000 - 1024) == -1


def test_negative_size_rejected() -> None:
    with pytest.raises(ValueError):
        ReplayWindow(-1)


# --- ESN: Appendix A2.2 inference of the high 32 bits -----------------------


def test_esn_same_subspace() -> None:
    w = ReplayWindow(64, esn=True)
    w.update((7 << 32) | 1000)
    assert w.check(1001) == (7 << 32) | 1001
    assert w.check(990) == (7 << 32) | 990
    # below the window bottom (1000-63): belongs to the next subspace (Seqh = Th + 1)
    assert w.check(5) == (8 << 32) | 5


def test_esn_window_spans_two_subspaces() -> None:
    w = ReplayWindow(64, esn=True)
    w.update((7 << 32) | 10)  # bottom of the window is in subspace 6
    assert w.check(0xFFFFFFF0) == (6 << 32) | 0xFFFFFFF0  # Seqh = Th - 1
    assert w.check(11) == (7 << 32) | 11
    assert w.check(0x80000000) == (7 << 32) | 0x80000000  # ahead, same subspace


def test_esn_wrap_of_low_bits() -> None:
    w = ReplayWindow(64, esn=True)
    assert accept(w, 0xFFFFFFFE) == 0xFFFFFFFE
    assert accept(w, 0xFFFFFFFF) == 0xFFFFFFFF
    # low 32 bits wrap: 0 and 1 are inferred in subspace 1
    assert accept(w, 0) == 1 << 32
    assert accept(w, 1) == (1 << 32) | 1
    # a late packet from before the wrap is still in the window
    assert accept(w, 0xFFFFFFFD) == 0xFFFFFFFD
    assert w.check(0xFFFFFFFE) == -1  # duplicate across the wrap


def test_esn_first_subspace_has_no_predecessor() -> None:
    w = ReplayWindow(64, esn=True)
    accept(w, 5)
    assert w.check(0xFFFFFFF0) == 0xFFFFFFF0  # Th = 0: no subspace -1


def test_esn_with_window_disabled_still_infers() -> None:
    w = ReplayWindow(0, esn=True)
    accept(w, 0xFFFFFFF0)
    assert accept(w, 3) == (1 << 32) | 3
