"""IKE_SA_INIT (RFC 7296 1.2): proposals, key exchange, nonces, NAT detection, COOKIE.

    # IKE_SA_INIT { [N(COOKIE)], SAi1, KEi, Ni, N(NATD_S_IP), N(NATD_D_IP) } -->
    # <-- { SAr1, KEr, Nr, N(NATD_S_IP), N(NATD_D_IP) }
    #   or { N(COOKIE) } or { N(INVALID_KE_PAYLOAD) } or { N(NO_PROPOSAL_CHOSEN) }

The initiator's side is the task ``IkeInit``; the responder's side is
``respond`` which the manager calls only after its stateless checks.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes

from ...crypto.ke import KeyExchangeError, new_key_exchange
from ...crypto.keymat import derive_ike_keys
from ...crypto.proposals import explain_mismatch, select_proposal
from ...crypto.sk import SkCipher
from ...wire.enums import ExchangeType, NotifyType
from ...wire.payloads import KePayload, NoncePayload, NotifyPayload, SaPayload
from .. import events as ev
from ..algorithms import algorithms_str
from ..child_sa import first_error, has_notify, notify_name
from ..errors import ProtocolError
from ..ike_sa import CONNECTING, DESTROY, DONE, RETRY

if TYPE_CHECKING:
    from ..ike_sa import IkeSa

MAX_COOKIE_RETRIES = 3


@functools.lru_cache(maxsize=256)
def _packed(addr: str) -> bytes:
    return ipaddress.ip_address(addr).packed


def natd_hash(spi_i: bytes, spi_r: bytes, addr: str, port: int) -> bytes:
    """RFC 7296 2.23: SHA-1(SPIi | SPIr | IP | Port)."""
    h = hashes.Hash(hashes.SHA1())
    h.update(spi_i + spi_r + _packed(addr) + port.to_bytes(2, "big"))
    return h.finalize()


def natd_payloads(sa: IkeSa, spi_r: bytes) -> list[NotifyPayload]:
    src = natd_hash(sa.spi_i, spi_r, sa.local[0], sa.local[1])
    if sa.conn.encap:
        # strongSwan's encap = yes: a source hash that can't match makes both
        # sides believe we are behind a NAT, so ESP goes over UDP 4500
        src = sa.mgr.rng.bytes(len(src))
    dst = natd_hash(sa.spi_i, spi_r, sa.remote[0], sa.remote[1])
    return [NotifyPayload(0, b"", NotifyType.NAT_DETECTION_SOURCE_IP, src),
            NotifyPayload(0, b"", NotifyType.NAT_DETECTION_DESTINATION_IP, dst)]


def detect_nat(sa: IkeSa, payloads: Sequence[Any], spi_r: bytes) -> None:
    """Compare the peer's NAT_DETECTION_* hashes with the addresses we see (2.23).

    ``spi_r`` is the one in the header of the message that carried them: zero
    in the request.
    """
    srcs = [p.data for p in payloads if isinstance(p, NotifyPayload)
            and p.notify_type == NotifyType.NAT_DETECTION_SOURCE_IP]
    dst = has_notify(payloads, NotifyType.NAT_DETECTION_DESTINATION_IP)
    if not srcs or dst is None:
        return  # the peer does not do NAT-T
    sa.nat_remote = natd_hash(sa.spi_i, spi_r, sa.remote[0], sa.remote[1]) not in srcs
    sa.nat_local = dst.data != natd_hash(sa.spi_i, spi_r, sa.local[0], sa.local[1])
    if sa.conn.encap:
        sa.nat_local = True
    if sa.nat_local:
        sa.info("local host is behind NAT, sending keep alives")
    if sa.nat_remote:
        sa.info("remote host is behind NAT")


def float_to_nat_t(sa: IkeSa) -> None:
    """After NAT is detected the initiator moves to the NAT-T port (2.23)."""
    opts = sa.mgr.options
    if (sa.nat_local or sa.nat_remote) and sa.remote[1] == opts.ike_port:
        sa.local = (sa.local[0], opts.nat_t_port)
        sa.remote = (sa.remote[0], opts.nat_t_port)


def derive(sa: IkeSa, g_ir: bytes) -> None:
    s = sa.selected
    keys = derive_ike_keys(s.prf_id, s.encr_id, s.encr_key_bits, s.integ_id or None,
                           sa.ni, sa.nr, g_ir, sa.spi_i, sa.spi_r)
    sa.keys = keys
    enc_i = SkCipher(s.encr_id, s.encr_key_bits, s.integ_id or None, keys.sk_ei, keys.sk_ai)
    enc_r = SkCipher(s.encr_id, s.encr_key_bits, s.integ_id or None, keys.sk_er, keys.sk_ar)
    sa.cipher_out, sa.cipher_in = (enc_i, enc_r) if sa.initiator else (enc_r, enc_i)
    sa.mgr.keys_derived(sa)


class IkeInit:
    exchange = ExchangeType.IKE_SA_INIT

    def __init__(self, sa: IkeSa) -> None:
        first = sa.conn.proposals[0]
        self.group: int = first.ke[0] if first.ke else 0
        self.cookie: bytes | None = None
        self.cookie_tries = 0
        self.ke: Any = None

    def build_i(self, sa: IkeSa, now: float) -> list[Any]:
        if not sa.ni:
            sa.ni = sa.mgr.rng.bytes(sa.mgr.options.nonce_size)
        if self.ke is None or self.ke.group != self.group:
            self.ke = new_key_exchange(self.group)
        sa.state = CONNECTING
        out: list[Any] = []
        if self.cookie is not None:
            out.append(NotifyPayload(0, b"", NotifyType.COOKIE, self.cookie))
        proposals = tuple(p.to_wire(n, b"") for n, p in enumerate(sa.conn.proposals, 1))
        out += [SaPayload(proposals), KePayload(self.group, self.ke.public_value),
                NoncePayload(sa.ni), *natd_payloads(sa, bytes(8))]
        sa.info("initiating IKE_SA to %s[%d]", *sa.remote)
        return out

    def _fail(self, sa: IkeSa, reason: str) -> str:
        sa.warn("%s", reason)
        sa.emit(ev.FAILED, reason)
        return DESTROY

    def process_i(self, sa: IkeSa, payloads: Sequence[Any], now: float) -> str:
        cookie = has_notify(payloads, NotifyType.COOKIE)
        if cookie is not None:
            self.cookie_tries += 1
            if self.cookie_tries > MAX_COOKIE_RETRIES:
                return self._fail(sa, "peer keeps asking for a COOKIE; giving up")
            sa.info("peer asked for a COOKIE, sending IKE_SA_INIT again with it")
            self.cookie = cookie.data
            return RETRY
        invalid_ke = has_notify(payloads, NotifyType.INVALID_KE_PAYLOAD)
        if invalid_ke is not None:
            if len(invalid_ke.data) != 2:
                return self._fail(sa, "malformed INVALID_KE_PAYLOAD from peer")
            group = int.from_bytes(invalid_ke.data, "big")
            allowed = {g for p in sa.conn.proposals for g in p.ke}
            if group not in allowed or group == self.group:
                # RFC 7296 1.2; downgrade protection: only groups we proposed
                return self._fail(sa, f"peer asked for key exchange group {_ke_name(group)}, "
                                      f"which our proposals do not allow "
                                      f"({sa.conn.proposals_text}); refusing")
            sa.info("peer prefers key exchange group %s, retrying with it", _ke_name(group))
            self.group = group
            self.ke = None
            return RETRY
        err = first_error(payloads)
        if err is not None:
            name = notify_name(err.notify_type)
            hint = (f": we offered {sa.conn.proposals_text}"
                    if err.notify_type == NotifyType.NO_PROPOSAL_CHOSEN else "")
            return self._fail(sa, f"peer refused IKE_SA_INIT with {name}{hint}")
        sap = next((p for p in payloads if isinstance(p, SaPayload)), None)
        kep = next((p for p in payloads if isinstance(p, KePayload)), None)
        nonce = next((p for p in payloads if isinstance(p, NoncePayload)), None)
        if sap is None or kep is None or nonce is None or len(sap.proposals) != 1:
            return self._fail(sa, "IKE_SA_INIT response lacks SA, KE or Nonce")
        chosen = select_proposal(sa.conn.proposals, sap.proposals)
        if chosen is None:
            return self._fail(sa, "peer selected an IKE proposal we did not offer: "
                                  + explain_mismatch(sa.conn.proposals, sap.proposals))
        sa.proposal, selected = chosen
        if selected.ke_id != self.group or kep.group != self.group:
            return self._fail(sa, "peer's key exchange does not match the proposal")
        try:
            g_ir = self.ke.shared_secret(kep.data)
        except KeyExchangeError as e:
            return self._fail(sa, f"peer's key exchange value is invalid: {e}")
        sa.selected = selected
        sa.nr = nonce.data
        detect_nat(sa, payloads, sa.spi_r)
        derive(sa, g_ir)
        float_to_nat_t(sa)
        sa.info("IKE_SA_INIT done: %s", algorithms_str(selected))
        return DONE

    def give_up(self, sa: IkeSa, now: float) -> None:
        pass


def _ke_name(group: int) -> str:
    from ...wire.enums import KeId

    try:
        return KeId(group).name
    except ValueError:
        return str(group)


def respond(sa: IkeSa, payloads: Sequence[Any], wire_prop: Any, selected: Any,
            now: float) -> list[Any]:
    """Responder: the manager has chosen the proposal and checked the KE group."""
    kep = next(p for p in payloads if isinstance(p, KePayload))
    nonce = next(p for p in payloads if isinstance(p, NoncePayload))
    ke = new_key_exchange(selected.ke_id)
    try:
        g_ir = ke.shared_secret(kep.data)
    except KeyExchangeError as e:
        raise ProtocolError(NotifyType.INVALID_SYNTAX, f"invalid key exchange value: {e}") from e
    sa.ni = nonce.data
    sa.nr = sa.mgr.rng.bytes(sa.mgr.options.nonce_size)
    sa.selected = selected
    sa.state = CONNECTING
    detect_nat(sa, payloads, bytes(8))
    derive(sa, g_ir)
    sa.info("IKE_SA_INIT from %s[%d]: %s", sa.remote[0], sa.remote[1], algorithms_str(selected))
    return [SaPayload((wire_prop,)), KePayload(selected.ke_id, ke.public_value),
            NoncePayload(sa.nr), *natd_payloads(sa, sa.spi_r)]
