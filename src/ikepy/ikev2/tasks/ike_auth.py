"""IKE_AUTH with pre-shared keys (RFC 7296 1.2, 2.15) and the first CHILD_SA.

    # IKE_AUTH { IDi, [IDr], AUTH, [N(INITIAL_CONTACT)], SAi2, TSi, TSr } -->
    # <-- { IDr, AUTH, SAr2, TSi, TSr }   or { N(AUTHENTICATION_FAILED) }
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import constant_time

from ...auth.psk import psk_auth_data
from ...wire.enums import AuthMethod, ExchangeType, NotifyType
from ...wire.payloads import AuthPayload, IDiPayload, IDrPayload, NotifyPayload, SaPayload
from .. import child_sa as cs
from .. import events as ev
from ..errors import ProtocolError
from ..identity import ANY, Identity, id_matches
from ..ike_sa import CONNECTING, DESTROY, DONE, ESTABLISHED

if TYPE_CHECKING:
    from ..ike_sa import IkeSa


def local_identity(sa: IkeSa, conn: Any) -> Identity:
    rnd = conn.local[0] if conn.local else None
    text = rnd.id if rnd is not None and rnd.id else sa.local[0]
    return Identity.from_string(text)


def configured_remote_id(conn: Any) -> str | None:
    rnd = conn.remote[0] if conn.remote else None
    return rnd.id if rnd is not None else None


def signed_octets(sa: IkeSa, of_initiator: bool, id_body: bytes) -> bytes:
    """RFC 7296 2.15: RealMessage | Nonce of the other side | prf(SK_p*, RestOfIDPayload)."""
    if of_initiator:
        return sa.init_request + sa.nr + sa.prf_compute(sa.keys.sk_pi, id_body)
    return sa.init_response + sa.ni + sa.prf_compute(sa.keys.sk_pr, id_body)


def find_psk(sa: IkeSa, local: Identity, remote_text: str) -> bytes:
    psk = sa.mgr.config.find_psk(str(local), remote_text)
    if psk is None:
        raise ProtocolError(NotifyType.AUTHENTICATION_FAILED,
                            f"no pre-shared key found for '{local}' - '{remote_text}'")
    return bytes(psk)


class IkeAuth:
    exchange = ExchangeType.IKE_AUTH

    def __init__(self, child_conf: Any | None) -> None:
        self.child_conf = child_conf
        self.child: cs.ChildSa | None = None

    def build_i(self, sa: IkeSa, now: float) -> list[Any]:
        local = local_identity(sa, sa.conn)
        sa.local_id = local
        idi = IDiPayload(local.id_type, local.data)
        remote_text = configured_remote_id(sa.conn)
        remote_for_psk = remote_text if remote_text not in (None, ANY, "") else sa.remote[0]
        try:
            psk = find_psk(sa, local, str(remote_for_psk))
        except ProtocolError as e:
            sa.warn("%s", e)
            sa.emit(ev.FAILED, str(e))
            sa.mgr.destroy(sa, now)
            return []
        auth = psk_auth_data(sa.selected.prf_id, psk,
                             signed_octets(sa, True, idi.serialize_body()))
        out: list[Any] = [idi]
        if remote_text not in (None, ANY, ""):
            rid = Identity.from_string(str(remote_text))
            out.append(IDrPayload(rid.id_type, rid.data))
        out.append(AuthPayload(AuthMethod.SHARED_KEY_MIC, auth))
        if sa.mgr.initial_contact_wanted(sa):
            out.append(NotifyPayload(0, b"", NotifyType.INITIAL_CONTACT))
        if self.child_conf is not None:
            self.child = sa.mgr.new_child(self.child_conf)
            out += cs.initiator_payloads(sa, self.child, with_ke=False)
        sa.info("authenticating as '%s' with a pre-shared key", local)
        return out

    def process_i(self, sa: IkeSa, payloads: Sequence[Any], now: float) -> str:
        idr = next((p for p in payloads if isinstance(p, IDrPayload)), None)
        auth = next((p for p in payloads if isinstance(p, AuthPayload)), None)
        if idr is None or auth is None:
            err = cs.first_error(payloads)
            what = cs.notify_name(err.notify_type) if err else "no IDr/AUTH"
            hint = (": check that both sides use the same pre-shared key and identities"
                    if err is not None and err.notify_type == NotifyType.AUTHENTICATION_FAILED else "")
            return self._fail(sa, f"peer refused our authentication ({what}){hint}")
        remote = Identity(idr.id_type, idr.data)
        expected = configured_remote_id(sa.conn)
        if not id_matches(expected, remote):
            return self._fail(sa, f"peer authenticated as '{remote}', expected '{expected}'")
        if auth.method != AuthMethod.SHARED_KEY_MIC:
            return self._fail(sa, f"peer used auth method {auth.method}, only PSK is supported")
        try:
            psk = find_psk(sa, sa.local_id or local_identity(sa, sa.conn), str(remote))
        except ProtocolError as e:
            return self._fail(sa, str(e))
        want = psk_auth_data(sa.selected.prf_id, psk, signed_octets(sa, False, idr.serialize_body()))
        if not constant_time.bytes_eq(want, auth.data):
            return self._fail(sa, f"authentication of '{remote}' with pre-shared key failed: "
                                  "the peer's AUTH does not match our key")
        sa.remote_id = remote
        established(sa, now)
        if self.child is not None:
            cs.process_initiator_response(sa, self.child, payloads, sa.ni, sa.nr, None,
                                          with_ke=False, now=now)
        return DONE

    def _fail(self, sa: IkeSa, reason: str) -> str:
        sa.mgr.count("auth_failed")
        sa.warn("%s", reason)
        if self.child is not None:
            cs.fail_child(sa, self.child, reason, 0.0)
        else:
            sa.emit(ev.FAILED, reason)
        return DESTROY

    def give_up(self, sa: IkeSa, now: float) -> None:
        if self.child is not None:
            sa.mgr.backend.release_spi(self.child.spi_in)


def established(sa: IkeSa, now: float) -> None:
    sa.state = ESTABLISHED
    sa.established_at = now
    sa.mgr.established(sa, now)
    sa.info("IKE_SA %s[%d] established between %s[%s]...%s[%s]", sa.name, sa.uniqueid,
            sa.local[0], sa.local_id, sa.remote[0], sa.remote_id)
    sa.emit(ev.IKE_UP, "IKE_SA established")


def respond(sa: IkeSa, payloads: Sequence[Any], now: float) -> list[Any]:
    if sa.initiator or sa.state != CONNECTING:
        # RFC 7296 1.2: one IKE_AUTH exchange, requested by the original initiator
        # (found by tests/fuzz/test_fuzz_engine.py: it re-ran authentication)
        raise ProtocolError(NotifyType.INVALID_SYNTAX,
                            f"unexpected IKE_AUTH request on an IKE_SA that is {sa.state}")
    idi = next((p for p in payloads if isinstance(p, IDiPayload)), None)
    if idi is None:
        # the rules allow 0..1 IDi (later EAP rounds); the first round needs it
        sa.emit(ev.FAILED, "IKE_AUTH request without IDi")
        sa.destroy_after_response = True
        raise ProtocolError(NotifyType.INVALID_SYNTAX, "IKE_AUTH request without IDi")
    auth = next((p for p in payloads if isinstance(p, AuthPayload)), None)
    remote = Identity(idi.id_type, idi.data)
    try:
        if auth is None:
            raise ProtocolError(NotifyType.AUTHENTICATION_FAILED,
                                f"'{remote}' wants EAP, which is not supported yet")
        conn = sa.mgr.conn_for_identity(sa, remote)
        if conn is None:
            raise ProtocolError(NotifyType.AUTHENTICATION_FAILED,
                                f"no connection accepts peer identity '{remote}'")
        sa.conn = conn
        if auth.method != AuthMethod.SHARED_KEY_MIC:
            raise ProtocolError(NotifyType.AUTHENTICATION_FAILED,
                                f"'{remote}' used auth method {auth.method}; only PSK is supported")
        local = local_identity(sa, conn)
        psk = find_psk(sa, local, str(remote))
        want = psk_auth_data(sa.selected.prf_id, psk, signed_octets(sa, True, idi.serialize_body()))
        if not constant_time.bytes_eq(want, auth.data):
            raise ProtocolError(NotifyType.AUTHENTICATION_FAILED,
                                f"authentication of '{remote}' with pre-shared key failed "
                                "(the peer's key differs from ours)")
    except ProtocolError as e:
        sa.mgr.count("auth_failed")
        sa.mgr.auth_failed(sa, now)
        sa.emit(ev.FAILED, str(e))
        sa.destroy_after_response = True
        raise
    sa.local_id = local
    sa.remote_id = remote
    idr = IDrPayload(local.id_type, local.data)
    reply: list[Any] = [idr, AuthPayload(AuthMethod.SHARED_KEY_MIC,
                                         psk_auth_data(sa.selected.prf_id, psk,
                                                       signed_octets(sa, False, idr.serialize_body())))]
    established(sa, now)
    sa.mgr.uniqueness(sa, cs.has_notify(payloads, NotifyType.INITIAL_CONTACT) is not None, now)
    if any(isinstance(p, SaPayload) for p in payloads):
        try:
            _, child_reply = cs.respond_child(sa, payloads, False, now, sa.ni, sa.nr)
            reply += child_reply
        except ProtocolError as e:
            # 1.2: a failed CHILD_SA leaves the IKE_SA up; the error rides in the response
            sa.warn("CHILD_SA not created: %s", e)
            sa.emit(ev.FAILED, f"CHILD_SA not created: {e}")
            reply.append(NotifyPayload(0, b"", e.notify, e.data))
    return reply
