"""Names of negotiated algorithms, as strongSwan prints them in --list-sas."""

from __future__ import annotations

from typing import Any

from ..wire.enums import EncrId, IntegId, KeId, PrfId

_ENCR = {
    EncrId.AES_CBC: "AES_CBC", EncrId.AES_GCM_8: "AES_GCM_8", EncrId.AES_GCM_12: "AES_GCM_12",
    EncrId.AES_GCM_16: "AES_GCM_16", EncrId.CHACHA20_POLY1305: "CHACHA20_POLY1305",
}


_KE = {KeId.CURVE25519: "CURVE_25519", KeId.CURVE448: "CURVE_448"}


def _name(enum: Any, value: int) -> str:
    try:
        return str(enum(value).name)
    except ValueError:
        return str(value)


def algorithms_str(sel: Any, esp: bool = False) -> str:
    """E.g. ``AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519``."""
    parts = []
    encr = _ENCR.get(sel.encr_id) or _name(EncrId, sel.encr_id)
    if sel.encr_key_bits and sel.encr_id != EncrId.CHACHA20_POLY1305:
        encr += f"-{sel.encr_key_bits}"
    parts.append(encr)
    if sel.integ_id:
        parts.append(_name(IntegId, sel.integ_id))
    if not esp and getattr(sel, "prf_id", None):
        parts.append("PRF_" + _name(PrfId, sel.prf_id))
    if getattr(sel, "ke_id", None):
        parts.append(_KE.get(sel.ke_id) or _name(KeId, sel.ke_id))
    if esp and getattr(sel, "esn", False):
        parts.append("ESN")
    return "/".join(parts)
