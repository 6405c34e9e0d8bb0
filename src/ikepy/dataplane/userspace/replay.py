"""Anti-replay sliding window (RFC 4303 3.4.3, Appendix A) with ESN (A.2).

The window is a Python int used as a bitmap: bit ``i`` set means sequence
number ``top - i`` has been received (and authenticated).  The receiver calls
:meth:`ReplayWindow.check` *before* the integrity check and
:meth:`ReplayWindow.update` only *after* it succeeded (3.4.3), so forged
packets never move the window.

With ESN only the low 32 bits travel; :meth:`check` infers the high 32 bits
from the window as in Appendix A2.2 and returns the full 64-bit number, which
the caller then feeds to the ICV / AAD computation (3.3.3).
"""

from __future__ import annotations

_MASK32 = 0xFFFFFFFF
# When the replay check is disabled (window 0) ESN still needs a window to
# infer the high bits from: use half the sequence space ("closest" number).
_ESN_INFERENCE_WINDOW = 1 << 31


class ReplayWindow:
    """``size`` = 0 disables replay protection (numbers are still tracked for ESN)."""

    __slots__ = ("size", "esn", "top", "bitmap", "_mask", "_infer")

    def __init__(self, size: int = 1024, esn: bool = False) -> None:
        if size < 0:
            raise ValueError("replay window size must be >= 0")
        self.size = size
        self.esn = esn
        self.top = 0  # highest authenticated sequence number (64-bit with ESN)
        self.bitmap = 0
        self._mask = (1 << size) - 1
        self._infer = size if size else _ESN_INFERENCE_WINDOW

    def check(self, seq_low: int) -> int:
        """Full sequence number for the 32-bit ``seq_low`` on the wire, or -1
        if the packet must be dropped as a replay (duplicate or too old)."""
        top = self.top
        if self.esn:
            # RFC 4303 A2.2: infer Seqh from Tl (bottom of the window) and Th.
            w = self._infer
            th = top >> 32
            tl = top & _MASK32
            if tl >= w - 1:  # window within one sequence number subspace
                seq = ((th + 1) << 32 | seq_low) if seq_low < tl - w + 1 else (th << 32 | seq_low)
            else:  # window spans two subspaces
                if seq_low >= ((tl - w + 1) & _MASK32):
                    if th == 0:
                        seq = seq_low  # the lower subspace does not exist yet
                    else:
                        seq = (th - 1) << 32 | seq_low
                else:
                    seq = th << 32 | seq_low
        else:
            seq = seq_low
        if seq == 0:
            return -1  # sequence number 0 is never sent (3.3.3)
        if seq > top:
            return seq
        if not self.size:
            return seq
        diff = top - seq
        if diff >= self.size or (self.bitmap >> diff) & 1:
            return -1
        return seq

    def update(self, seq: int) -> None:
        """Mark ``seq`` (full number from :meth:`check`) as received."""
        top = self.top
        if seq > top:
            shift = seq - top
            if shift < self.size:
                self.bitmap = ((self.bitmap << shift) | 1) & self._mask
            else:
                self.bitmap = 1 & self._mask
            self.top = seq
        elif self.size:
            self.bitmap |= 1 << (top - seq)

    def __repr__(self) -> str:
        return f"ReplayWindow(size={self.size}, esn={self.esn}, top={self.top})"
