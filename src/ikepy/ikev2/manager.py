"""The IKE SA manager: the sans-I/O engine the daemon drives.

It owns the SA tables (by our SPI, and half-open SAs by the initiator's SPI
and address), does the cheap stateless checks on an IKE_SA_INIT request
before any Diffie-Hellman or allocation (COOKIE, RFC 7296 2.6; proposal and
group choice), and routes every other datagram to its IKE SA. Time comes in
as ``now``; datagrams and events go out through ``datagrams_to_send()`` and
``events()``. See docs/contracts.md.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from ..crypto.prf import Prf
from ..crypto.proposals import explain_mismatch, select_proposal
from ..dataplane.base import TrapSpec
from ..wire.enums import ExchangeType, HeaderFlags, NotifyType
from ..wire.errors import CodecError, InvalidMajorVersion, UnsupportedCriticalPayload
from ..wire.header import HEADER_SIZE, IkeHeader
from ..wire.message import Message, parse_message, serialize_message
from ..wire.payloads import KePayload, NoncePayload, NotifyPayload, SaPayload
from ..wire.rules import check_rules
from . import child_sa as cs
from . import events as ev
from . import lifecycle, views
from . import ts as tsmod
from .cookies import CookieJar
from .errors import ProtocolError
from .identity import Identity, id_matches
from .ike_sa import CONNECTING, CREATED, DESTROYED, ESTABLISHED, IkeSa
from .options import ManagerOptions
from .tasks import child_create, child_rekey, ike_auth, ike_init, informational

log = logging.getLogger("ikepy.ike")

Addr = tuple[str, int]
ZERO_SPI = bytes(8)


class SystemRng:
    """Nonces and SPIs from the OS's CSPRNG."""

    def bytes(self, n: int) -> bytes:
        return os.urandom(n)


class UnauthenticatedLog:
    """Log lines caused by unauthenticated datagrams, at most ``per_second`` a second.

    A flood of garbage or of IKE_SA_INIT must not become a flood of log lines;
    what is held back is counted (``log_lines_suppressed``) and said once the
    next line gets through.
    """

    def __init__(self, mgr: IkeManager, per_second: int = 20) -> None:
        self._mgr = mgr
        self._per_second = per_second
        self._second = -1
        self._used = 0
        self._held = 0

    def __call__(self, level: int, msg: str, *args: Any) -> None:
        second = int(self._mgr._now)
        if second != self._second:
            self._second, self._used = second, 0
        if self._used >= self._per_second:
            self._held += 1
            self._mgr.count("log_lines_suppressed")
            return
        self._used += 1
        if self._held:
            msg += f" ({self._held} similar lines held back)"
            self._held = 0
        log.log(level, msg, *args)


class InitiateError(ValueError):
    """An operator's initiate/terminate request that can't be carried out; says why."""


class IkeManager:
    def __init__(self, config: Any, backend: Any, options: ManagerOptions | None = None,
                 rng: Any = None, source_for: Callable[[str], str] | None = None,
                 name: str = "") -> None:
        self.config = config
        # prefixed to every log line when several engines share one process (the demo)
        self.log_name = f"{name}: " if name else ""
        self.backend = backend
        self.options = options or ManagerOptions()
        self.rng = rng or SystemRng()
        # the runtime's route lookup: which local address reaches this peer?
        self.source_for = source_for
        self.sas: dict[int, IkeSa] = {}
        self.by_spi: dict[bytes, IkeSa] = {}
        # responder SAs by (SPIi, peer address): a retransmitted or duplicated IKE_SA_INIT
        # finds its SA here for the SA's whole life (2.1); half_open counts the unfinished ones
        self.by_init: dict[tuple[bytes, Addr], IkeSa] = {}
        self.half_open: dict[tuple[bytes, Addr], IkeSa] = {}
        self.half_open_by_ip: Counter[str] = Counter()
        # failed authentications per peer address: (failures, ignored until)
        self.auth_failures: dict[str, tuple[int, float]] = {}
        self.counters: Counter[str] = Counter()
        self._outbox: list[tuple[bytes, Addr, Addr]] = []
        self._events: list[ev.Event] = []
        self._ids = {"ike": 0, "child": 0, "reqid": 0}
        self.cookies = CookieJar(self.rng, self.options.cookie_secret_lifetime)
        self.unauth_log = UnauthenticatedLog(self)
        self.traps: dict[int, tuple[str, str]] = {}  # trap id -> (connection, child)
        self._now = 0.0
        self.responders: dict[int, Callable[[IkeSa, Sequence[Any], float], list[Any]]] = {
            ExchangeType.IKE_AUTH: ike_auth.respond,
            ExchangeType.CREATE_CHILD_SA: child_create.respond,
            ExchangeType.INFORMATIONAL: informational.respond,
        }

    # ----------------------------------------------------------------- outputs
    def send(self, packet: bytes, local: Addr, remote: Addr) -> None:
        self._outbox.append((packet, local, remote))

    def datagrams_to_send(self) -> list[tuple[bytes, Addr, Addr]]:
        out, self._outbox = self._outbox, []
        return out

    def emit(self, event: ev.Event) -> None:
        self._events.append(event)

    def events(self) -> list[ev.Event]:
        out, self._events = self._events, []
        return out

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    # ------------------------------------------------------------------ ids
    def _next(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def next_ike_id(self) -> int:
        return self._next("ike")

    def new_spi(self) -> bytes:
        return self._new_spi()

    def register(self, sa: IkeSa) -> None:
        self.sas[sa.uniqueid] = sa
        self.by_spi[sa.our_spi] = sa

    def schedule_ike(self, sa: IkeSa, now: float) -> None:
        lifecycle.schedule_ike(sa, now)

    def jitter(self, span: float) -> float:
        """A random share of ``span`` (strongSwan's rand_time), from our rng."""
        if span <= 0:
            return 0.0
        return span * int.from_bytes(self.rng.bytes(4), "big") / 2**32

    def next_child_id(self) -> int:
        return self._next("child")

    def next_reqid(self) -> int:
        return self._next("reqid")

    def new_child(self, conf: Any) -> cs.ChildSa:
        return cs.ChildSa(name=conf.name, conf=conf, uniqueid=self.next_child_id(),
                          reqid=self.next_reqid(), spi_in=self.backend.alloc_spi())

    def replay_window(self, conf: Any) -> int:
        return int(getattr(conf, "replay_window", 32))

    def _new_spi(self) -> bytes:
        while True:
            spi = self.rng.bytes(8)
            if spi != ZERO_SPI and spi not in self.by_spi:
                return spi

    # --------------------------------------------------------------- receiving
    def receive(self, data: bytes, local: Addr, remote: Addr, now: float) -> None:
        self._now = now
        self.count("ike_received")
        try:
            msg = parse_message(data)
        except CodecError as e:
            # tier 1: unauthenticated garbage is dropped, counted and logged, no state change
            self.count("dropped_malformed")
            self.unauth_log(logging.INFO, "dropped a malformed IKE message from %s[%d]: %s",
                            remote[0], remote[1], e)
            self._codec_error_reply(data, e, local, remote)
            return
        h = msg.header
        if h.exchange_type == ExchangeType.IKE_SA_INIT and not h.is_response:
            if h.spi_r != ZERO_SPI or h.message_id != 0:
                self.count("dropped_malformed")
                return
            sa = self.by_init.get((h.spi_i, remote))
            if sa is not None:
                sa.receive(data, msg, local, remote, now)  # a retransmit: the cached response
                return
            self._init_request(data, msg, local, remote, now)
            return
        found = self.by_spi.get(h.spi_r if h.is_initiator else h.spi_i)
        if found is None or found.initiator == h.is_initiator or found.state == DESTROYED:
            self.count("dropped_unknown_spi")
            log.debug("dropped %s from %s: no IKE_SA with those SPIs", msg, remote[0])
            return
        found.receive(data, msg, local, remote, now)

    def _codec_error_reply(self, data: bytes, e: CodecError, local: Addr, remote: Addr) -> None:
        """RFC 7296 2.5, 3.10.1: the two unauthenticated error replies a malformed request gets.

        An IKE_SA_INIT request with an unknown critical payload gets
        N(UNSUPPORTED_CRITICAL_PAYLOAD) naming its type; a request with a
        higher major version gets N(INVALID_MAJOR_VERSION) in a version 2.0
        header. Stateless, no larger than the request (tests/security/
        test_malformed_daemon.py); everything else is only dropped.
        """
        if (len(data) < HEADER_SIZE or data[19] & HeaderFlags.RESPONSE
                or int.from_bytes(data[24:28], "big") != len(data)):
            return  # a response, or not an IKE header at all (random garbage)
        spi_i, spi_r, exchange = data[:8], data[8:16], data[18]
        mid = int.from_bytes(data[20:24], "big")
        if isinstance(e, InvalidMajorVersion):
            if e.major <= 2:  # IKEv1 (major 1) is another protocol: dropped, not answered
                return
            notify, ndata = NotifyType.INVALID_MAJOR_VERSION, b""
        elif isinstance(e, UnsupportedCriticalPayload):
            if exchange != ExchangeType.IKE_SA_INIT or spi_r != ZERO_SPI or mid != 0:
                return
            notify, ndata = NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, e.notify_data
        else:
            return
        self.count(f"sent_{notify.name.lower()}")
        header = IkeHeader(spi_i=spi_i, spi_r=spi_r, next_payload=0, exchange_type=exchange,
                           flags=HeaderFlags.RESPONSE, message_id=mid, length=0)
        payload = NotifyPayload(0, b"", notify, ndata)
        self.send(serialize_message(Message(header, (payload,))), local, remote)

    def _reply_plain(self, msg: Message, local: Addr, remote: Addr, notify: int,
                     data: bytes = b"") -> None:
        """A stateless IKE_SA_INIT error response (COOKIE, INVALID_KE_PAYLOAD, ...)."""
        header = IkeHeader(spi_i=msg.header.spi_i, spi_r=ZERO_SPI, next_payload=0,
                           exchange_type=ExchangeType.IKE_SA_INIT, flags=HeaderFlags.RESPONSE,
                           message_id=0, length=0)
        payload = NotifyPayload(0, b"", notify, data)
        self.send(serialize_message(Message(header, (payload,))), local, remote)

    def _init_request(self, raw: bytes, msg: Message, local: Addr, remote: Addr,
                      now: float) -> None:
        payloads = msg.payloads
        try:
            check_rules(ExchangeType.IKE_SA_INIT, False, payloads)
        except CodecError as e:
            self.count("dropped_malformed")
            self.unauth_log(logging.INFO, "dropped IKE_SA_INIT from %s: %s", remote[0], e)
            return
        self.count("ike_sa_init_requests")
        failed = self.auth_failures.get(remote[0])
        if failed is not None and now < failed[1]:
            self.count("dropped_auth_backoff")
            log.debug("ignoring IKE_SA_INIT from %s: %d failed authentications, back-off "
                      "for %.0fs more", remote[0], failed[0], failed[1] - now)
            return
        nonce = next(p for p in payloads if isinstance(p, NoncePayload))
        if len(self.half_open) >= self.options.cookie_threshold:
            first = payloads[0]
            ok = (isinstance(first, NotifyPayload) and first.notify_type == NotifyType.COOKIE
                  and self.cookies.valid(first.data, nonce.data, remote[0], msg.header.spi_i, now))
            if not ok:
                # 2.6: no state, no Diffie-Hellman before the initiator proves its address
                self.count("cookies_sent")
                self._reply_plain(msg, local, remote, NotifyType.COOKIE,
                                  self.cookies.make(nonce.data, remote[0], msg.header.spi_i,
                                                    now))
                return
        opts = self.options
        if opts.block_threshold and self.half_open_by_ip[remote[0]] >= opts.block_threshold:
            self.count("dropped_half_open_per_address")
            log.debug("ignoring IKE_SA_INIT from %s: %d half-open IKE_SAs from that address",
                      remote[0], self.half_open_by_ip[remote[0]])
            return
        if opts.init_limit_half_open and len(self.half_open) >= opts.init_limit_half_open:
            self.count("dropped_half_open_limit")
            return
        sap = next(p for p in payloads if isinstance(p, SaPayload))
        kep = next(p for p in payloads if isinstance(p, KePayload))
        conns = self.candidate_conns(local[0], remote[0])
        if not conns:
            self.count("no_config")
            self.unauth_log(logging.WARNING,
                            "no IKE config found for %s...%s, sending NO_PROPOSAL_CHOSEN",
                            local[0], remote[0])
            self._reply_plain(msg, local, remote, NotifyType.NO_PROPOSAL_CHOSEN)
            return
        chosen = None
        conn = conns[0]
        for conn in conns:
            chosen = select_proposal(conn.proposals, sap.proposals)
            if chosen is not None:
                break
        if chosen is None:
            self.count("no_proposal_chosen")
            self.unauth_log(logging.WARNING,
                            "IKE_SA_INIT from %s: no acceptable proposal, sending "
                            "NO_PROPOSAL_CHOSEN; %s", remote[0],
                            "; ".join(f"{c.name}: {explain_mismatch(c.proposals, sap.proposals)}"
                                      for c in conns))
            self._reply_plain(msg, local, remote, NotifyType.NO_PROPOSAL_CHOSEN)
            return
        wire_prop, selected = chosen
        assert selected.ke_id is not None  # an IKE proposal always has a KE transform
        if kep.group != selected.ke_id:
            self.count("invalid_ke_sent")
            self.unauth_log(logging.INFO, "IKE_SA_INIT from %s: KE group %d but we chose %d, "
                            "sending INVALID_KE_PAYLOAD", remote[0], kep.group, selected.ke_id)
            self._reply_plain(msg, local, remote, NotifyType.INVALID_KE_PAYLOAD,
                              selected.ke_id.to_bytes(2, "big"))
            return
        sa = IkeSa(mgr=self, conn=conn, uniqueid=self._next("ike"), initiator=False,
                   spi_i=msg.header.spi_i, spi_r=self._new_spi(), local=local, remote=remote,
                   created_at=now)
        try:
            reply = ike_init.respond(sa, payloads, wire_prop, selected, now)
        except ProtocolError as e:
            self.count("dropped_invalid_ke_value")
            self.unauth_log(logging.INFO, "IKE_SA_INIT from %s refused: %s", remote[0], e)
            self._reply_plain(msg, local, remote, e.notify, e.data)
            return
        sa.proposal = wire_prop
        self.sas[sa.uniqueid] = sa
        self.by_spi[sa.spi_r] = sa
        self.half_open[(sa.spi_i, remote)] = sa
        self.half_open_by_ip[remote[0]] += 1
        self.by_init[(sa.spi_i, remote)] = sa
        packet = sa.pack(ExchangeType.IKE_SA_INIT, True, 0, reply)
        sa.init_request, sa.init_response = raw, packet
        sa.last_response = (0, packet)
        sa.peer_mid = 1
        self.send(packet, local, remote)

    # --------------------------------------------------------------- matching
    @staticmethod
    def _addr_match(patterns: Sequence[str], ip: str) -> bool:
        addr = ipaddress.ip_address(ip)
        for p in patterns:
            p = p.strip()
            if p in ("%any", "") or (p == "%any4" and addr.version == 4) or (
                    p == "%any6" and addr.version == 6):
                return True
            try:
                if "/" in p and addr in ipaddress.ip_network(p, strict=False):
                    return True
                if "-" in p:
                    lo, hi = (ipaddress.ip_address(x) for x in p.split("-", 1))
                    if lo.version == addr.version and lo <= addr <= hi:  # type: ignore[operator]
                        return True
                elif ipaddress.ip_address(p) == addr:
                    return True
            except ValueError:
                continue
        return False

    def candidate_conns(self, local_ip: str, remote_ip: str) -> list[Any]:
        return [c for c in self.config.connections.values()
                if c.version in (0, 2) and self._addr_match(c.local_addrs, local_ip)
                and self._addr_match(c.remote_addrs, remote_ip)]

    def conn_for_identity(self, sa: IkeSa, remote: Identity) -> Any:
        """The responder's second look (IKE_AUTH): a connection that accepts this peer ID."""
        options = [sa.conn] + [c for c in self.candidate_conns(sa.local[0], sa.remote[0])
                               if c is not sa.conn]
        for conn in options:
            if not id_matches(ike_auth.configured_remote_id(conn), remote):
                continue
            if conn is sa.conn or select_proposal(conn.proposals, [sa.proposal]) is not None:
                return conn
        return None

    # ------------------------------------------------------------ SA lifecycle
    def keys_derived(self, sa: IkeSa) -> None:
        sa.prf = Prf(sa.selected.prf_id)

    def _drop_half_open(self, sa: IkeSa) -> None:
        for key, other in list(self.half_open.items()):
            if other is sa:
                del self.half_open[key]
                self.half_open_by_ip[key[1][0]] -= 1
                if self.half_open_by_ip[key[1][0]] <= 0:
                    del self.half_open_by_ip[key[1][0]]

    def established(self, sa: IkeSa, now: float) -> None:
        lifecycle.schedule_ike(sa, now)
        self._drop_half_open(sa)
        if not sa.initiator:
            self.auth_failures.pop(sa.remote[0], None)
        self.count("ike_sas_established")

    def initial_contact_wanted(self, sa: IkeSa) -> bool:
        if getattr(sa.conn, "unique", "no") == "never":
            return False
        return not any(o is not sa and o.state == ESTABLISHED and o.remote[0] == sa.remote[0]
                       for o in self.sas.values())

    def uniqueness(self, sa: IkeSa, initial_contact: bool, now: float) -> None:
        """strongSwan's ``unique`` and INITIAL_CONTACT (RFC 7296 2.4) for a new IKE SA.

        no: INITIAL_CONTACT from the peer clears our other SAs with it (silently:
        the peer has forgotten them); replace: our other SAs with this peer ID are
        deleted with the peer; keep: the new IKE SA is deleted; never: nothing.
        """
        policy = str(getattr(sa.conn, "unique", "no"))
        if policy == "never":
            return
        others = [o for o in self.sas.values() if o is not sa and o.state == ESTABLISHED
                  and not o.rekeyed and o.remote_id == sa.remote_id and o.conn.name == sa.conn.name]
        if policy == "keep" and others:
            sa.info("unique = keep: an IKE_SA with '%s' exists, deleting this one", sa.remote_id)
            sa.queue_task(informational.DeleteIke(), now)
            return
        for other in others:
            if policy == "replace":
                other.info("unique = replace: a new IKE_SA with '%s' replaces this one",
                           sa.remote_id)
                self._delete_ike(other, now)
            elif initial_contact:
                other.info("peer sent INITIAL_CONTACT on a new IKE_SA: destroying this one")
                self.destroy(other, now)

    def auth_failed(self, sa: IkeSa, now: float) -> None:
        """Rate-limit a peer address that keeps failing authentication (online guessing)."""
        ip = sa.remote[0]
        failures = self.auth_failures.get(ip, (0, 0.0))[0] + 1
        allowed = self.options.auth_failures_allowed
        until = 0.0
        if failures >= allowed:
            backoff = min(2.0 ** (failures - allowed), self.options.auth_backoff_max)
            until = now + backoff
            log.warning("%s: %d failed authentications: ignoring its IKE_SA_INIT for %.0fs",
                        ip, failures, backoff)
        self.auth_failures[ip] = (failures, until)

    def destroy(self, sa: IkeSa, now: float) -> None:
        if sa.state == DESTROYED:
            return
        for child in list(sa.children):
            cs.remove(sa, child, now, "deleted with its IKE_SA")
        was_up = sa.established_at > 0 and not sa.rekeyed
        sa.state = DESTROYED
        sa.active = None
        sa.queue.clear()
        self.sas.pop(sa.uniqueid, None)
        if self.by_spi.get(sa.our_spi) is sa:
            del self.by_spi[sa.our_spi]
        self._drop_half_open(sa)
        for key, other in list(self.by_init.items()):
            if other is sa:
                del self.by_init[key]
        if was_up:
            sa.info("IKE_SA deleted")
            sa.emit(ev.IKE_DOWN, "IKE_SA deleted")
        elif sa.rekeyed:
            sa.info("superseded IKE_SA deleted")

    # ---------------------------------------------------------------- commands
    def _find_child_conf(self, child_name: str, ike_name: str | None) -> tuple[Any, Any]:
        conns = self.config.connections
        if ike_name is not None:
            conn = conns.get(ike_name)
            if conn is None:
                raise InitiateError(f"no connection named '{ike_name}' (known: "
                                    f"{', '.join(conns) or 'none'})")
            if child_name not in conn.children:
                raise InitiateError(f"connection '{ike_name}' has no child '{child_name}' "
                                    f"(it has: {', '.join(conn.children) or 'none'})")
            return conn, conn.children[child_name]
        for conn in conns.values():
            if child_name in conn.children:
                return conn, conn.children[child_name]
        raise InitiateError(f"no child named '{child_name}' in any connection")

    def initiate(self, child_name: str | None, ike_name: str | None, now: float) -> int:
        """Bring up a CHILD_SA (and its IKE_SA if needed); returns the IKE_SA's unique id."""
        self._now = now
        if child_name is None:
            if ike_name is None or ike_name not in self.config.connections:
                raise InitiateError(f"no connection named '{ike_name}'")
            conn, child_conf = self.config.connections[ike_name], None
        else:
            conn, child_conf = self._find_child_conf(child_name, ike_name)
        for sa in self.sas.values():
            # an established IKE SA of this connection serves, whoever initiated it
            if sa.conn.name == conn.name and not sa.rekeyed and (
                    sa.state == ESTABLISHED or (sa.initiator and sa.state in (CREATED, CONNECTING))):
                if child_conf is not None:
                    sa.queue_task(child_create.CreateChild(child_conf), now)
                return sa.uniqueid
        remote_ip = next((a for a in conn.remote_addrs if _is_ip(a)), None)
        if remote_ip is None:
            raise InitiateError(f"connection '{conn.name}' has no remote address to initiate to "
                                f"(remote_addrs = {', '.join(conn.remote_addrs)})")
        local_ip = next((a for a in conn.local_addrs if _is_ip(a)), None)
        if local_ip is None:
            if self.source_for is None:
                raise InitiateError(f"connection '{conn.name}' needs local_addrs to initiate")
            local_ip = self.source_for(remote_ip)
        sa = IkeSa(mgr=self, conn=conn, uniqueid=self._next("ike"), initiator=True,
                   spi_i=self._new_spi(), spi_r=ZERO_SPI,
                   local=(str(ipaddress.ip_address(local_ip)), self.options.ike_port),
                   remote=(str(ipaddress.ip_address(remote_ip)), conn.remote_port),
                   created_at=now)
        self.register(sa)
        sa.requested = [child_conf] if child_conf is not None else []
        sa.queue.append(ike_init.IkeInit(sa))
        sa.queue_task(ike_auth.IkeAuth(child_conf), now)
        return sa.uniqueid

    def reauthenticate(self, sa: IkeSa, now: float) -> None:
        """Make-before-break reauthentication: a whole new IKE SA with the same
        CHILD_SAs, then the old one is deleted (strongSwan's make_before_break)."""
        confs = [c.conf for c in sa.children if c.state == cs.INSTALLED and not c.rekeyed]
        sa.info("reauthenticating IKE_SA (make-before-break)")
        new = IkeSa(mgr=self, conn=sa.conn, uniqueid=self._next("ike"), initiator=True,
                    spi_i=self._new_spi(), spi_r=ZERO_SPI, local=sa.local, remote=sa.remote,
                    created_at=now)
        self.register(new)
        new.queue.append(ike_init.IkeInit(new))
        new.queue.append(ike_auth.IkeAuth(confs[0] if confs else None))
        for conf in confs[1:]:
            new.queue.append(child_create.CreateChild(conf))
        new.queue.append(_DeleteOld(sa))
        new._kick(now)

    def peer_dead(self, sa: IkeSa, now: float, reason: str) -> None:
        """The peer stopped answering: destroy, then dpd_action or keyingtries."""
        confs = [c.conf for c in sa.children]
        sa.emit(ev.FAILED, reason)
        established = sa.established_at > 0
        self.destroy(sa, now)
        if established:
            for conf in confs:
                self._act(conf.dpd_action, conf, sa, now, "dpd_action")
        elif sa.initiator:
            tries = int(getattr(sa.conn, "keyingtries", 1))
            if tries == 0 or sa.attempt < tries:
                sa.info("keyingtries: attempt %d of %s", sa.attempt + 1, tries or "unlimited")
                for conf in sa.requested or [None]:
                    uid = self.initiate(conf.name if conf else None, sa.conn.name, now)
                    self.sas[uid].attempt = sa.attempt + 1

    def closed_by_peer(self, sa: IkeSa, confs: Sequence[Any], now: float) -> None:
        """close_action for CHILD_SAs the peer deleted (not as part of a rekey)."""
        for conf in confs:
            self._act(conf.close_action, conf, sa, now, "close_action")

    def _act(self, action: str, conf: Any, sa: IkeSa, now: float, knob: str) -> None:
        if "start" not in str(action).split("|") and action != "restart":
            if "trap" in str(action).split("|") and self.install_trap(sa.conn, conf):
                sa.info("%s = trap: CHILD_SA %s comes back with its next packet", knob,
                        conf.name)
            return
        sa.info("%s = %s: bringing CHILD_SA %s up again", knob, action, conf.name)
        live = self.sas.get(sa.uniqueid)
        if live is not None and live.state == ESTABLISHED:
            live.queue_task(child_create.CreateChild(conf), now)
            return
        try:
            self.initiate(conf.name, sa.conn.name, now)
        except InitiateError as e:
            sa.warn("%s: %s", knob, e)

    def dataplane_event(self, kind: str, reqid: int, now: float) -> None:
        """The data plane's lifetime events: soft -> rekey, hard -> gone (RFC 4303 3.3.3)."""
        self._now = now
        if kind == "acquire":
            self._acquire(reqid, now)
            return
        for sa in list(self.sas.values()):
            for child in list(sa.children):
                if child.reqid != reqid:
                    continue
                if kind == "hard":
                    sa.info("CHILD_SA %s reached its hard byte/packet lifetime", child.describe())
                    if child.state == cs.INSTALLED and sa.state == ESTABLISHED:
                        sa.queue_task(informational.DeleteChild(child), now)
                    cs.remove(sa, child, now, "expired")
                elif kind in ("soft", "seq_exhausted") and child.state == cs.INSTALLED \
                        and not (child.rekeying or child.rekeyed) and sa.state == ESTABLISHED:
                    sa.info("CHILD_SA %s: %s limit reached, rekeying", child.describe(),
                            "sequence number" if kind == "seq_exhausted" else "soft byte/packet")
                    child.rekey_at = None
                    sa.queue_task(child_rekey.ChildRekey(child), now)
                return

    def terminate_ike(self, name: str, now: float) -> int:
        self._now = now
        hits = [sa for sa in self.sas.values() if sa.name == name or str(sa.uniqueid) == name]
        if not hits:
            raise InitiateError(f"no IKE_SA named '{name}'")
        for sa in hits:
            self._delete_ike(sa, now)
        return len(hits)

    def _delete_ike(self, sa: IkeSa, now: float) -> None:
        if sa.state == ESTABLISHED:
            sa.queue.clear()
            sa.queue_task(informational.DeleteIke(), now)
        else:
            self.destroy(sa, now)

    def terminate_child(self, name: str, now: float) -> int:
        self._now = now
        n = 0
        for sa in list(self.sas.values()):
            for child in list(sa.children):
                if child.name == name or str(child.uniqueid) == name:
                    sa.queue_task(informational.DeleteChild(child), now)
                    n += 1
        if not n:
            raise InitiateError(f"no CHILD_SA named '{name}'")
        return n

    def liveness(self, name: str, now: float) -> None:
        for sa in self.sas.values():
            if sa.name == name and sa.state == ESTABLISHED:
                sa.queue_task(informational.Liveness(), now)

    def start(self, now: float) -> None:
        """start_action: trap policies installed, children to start brought up."""
        for conn in self.config.connections.values():
            for child in conn.children.values():
                actions = str(child.start_action).split("|")
                if "trap" in actions:
                    self.install_trap(conn, child)
                if "start" in actions:
                    try:
                        self.initiate(child.name, conn.name, now)
                    except InitiateError as e:
                        log.warning("start_action of %s: %s", child.name, e)

    def install_trap(self, conn: Any, child: Any) -> bool:
        """A trap policy for ``child``: its first packet brings it up (an acquire)."""
        install = getattr(self.backend, "install_trap", None)
        if install is None:
            log.warning("%s: this data plane has no trap policies", child.name)
            return False
        if any(t == (conn.name, child.name) for t in self.traps.values()):
            return True
        remote_ip = next((a for a in conn.remote_addrs if _is_ip(a)), None)
        local_ip = next((a for a in conn.local_addrs if _is_ip(a)), None)
        if remote_ip is None:
            log.warning("%s: a trap needs a concrete remote address", child.name)
            return False
        if local_ip is None:
            local_ip = self.source_for(remote_ip) if self.source_for else None
        if local_ip is None:
            log.warning("%s: a trap needs local_addrs", child.name)
            return False
        lip, rip = ipaddress.ip_address(local_ip), ipaddress.ip_address(remote_ip)
        trap_id = self.next_reqid()
        local_ts = tuple(tsmod.from_conf(t, lip) for t in child.local_ts)
        remote_ts = tuple(tsmod.from_conf(t, rip) for t in child.remote_ts)
        install(TrapSpec(trap_id=trap_id, name=child.name, local_addr=lip, remote_addr=rip,
                         local_ts=local_ts, remote_ts=remote_ts, mode=child.mode,
                         if_id_in=cs.if_id(child.if_id_in, conn.if_id_in, trap_id),
                         if_id_out=cs.if_id(child.if_id_out, conn.if_id_out, trap_id)))
        self.traps[trap_id] = (conn.name, child.name)
        log.info("%s: trap policy installed for %s === %s", child.name,
                 tsmod.list_str(local_ts), tsmod.list_str(remote_ts))
        return True

    def _acquire(self, trap_id: int, now: float) -> None:
        trap = self.traps.get(trap_id)
        if trap is None:
            self.count("acquires_unknown")
            return
        conn_name, child_name = trap
        for sa in self.sas.values():
            if sa.conn.name == conn_name and any(
                    c.name == child_name and c.state == cs.INSTALLED for c in sa.children):
                return  # up already (the packet raced the install)
            if sa.conn.name == conn_name and sa.state in (CREATED, CONNECTING) and sa.initiator:
                return  # coming up
        self.count("acquires")
        log.info("%s: acquire: the first packet for a trap policy, initiating", child_name)
        try:
            self.initiate(child_name, conn_name, now)
        except InitiateError as e:
            log.warning("acquire for %s: %s", child_name, e)

    def shutdown(self, now: float) -> None:
        for sa in list(self.sas.values()):
            self._delete_ike(sa, now)

    def busy(self) -> bool:
        return any(sa.busy() for sa in self.sas.values())

    def load(self, config: Any, now: float | None = None) -> dict[str, Any]:
        """Take a new configuration without dropping the SAs that still match it.

        An IKE SA whose connection is still there (same name, version, addresses
        and IKE proposals that still accept what was negotiated) is kept and
        follows the new settings from now on (rekey times, DPD, ...), and so is
        each CHILD_SA whose child config is still there. The others are deleted
        with the peer, as strongSwan's ``swanctl --load-conns`` does for removed
        connections.
        """
        now = self._now if now is None else now
        self.config = config
        kept = deleted = 0
        for sa in list(self.sas.values()):
            conn = config.connections.get(sa.conn.name)
            fits = (conn is not None and conn.version in (0, 2)
                    and self._addr_match(conn.local_addrs, sa.local[0])
                    and self._addr_match(conn.remote_addrs, sa.remote[0])
                    and (sa.proposal is None
                         or select_proposal(conn.proposals, [sa.proposal]) is not None))
            if not fits:
                sa.info("connection %s changed or removed by load: deleting this IKE_SA",
                        sa.conn.name)
                self._delete_ike(sa, now)
                deleted += 1
                continue
            kept += 1
            sa.conn = conn
            for child in list(sa.children):
                cconf = conn.children.get(child.name)
                if cconf is None:
                    sa.info("child %s removed by load: deleting its CHILD_SA", child.name)
                    if child.state == cs.INSTALLED:
                        sa.queue_task(informational.DeleteChild(child), now)
                else:
                    child.conf = cconf
        return {"connections": len(config.connections), "secrets": len(config.secrets),
                "ike_sas_kept": kept, "ike_sas_deleted": deleted}

    # ------------------------------------------------------------------ timers
    def _deadline(self, sa: IkeSa) -> float | None:
        times = lifecycle.deadlines(sa)
        t = sa.next_deadline()
        if t is not None:
            times.append(t)
        return min(times) if times else None

    def next_deadline(self) -> float | None:
        times = [t for t in (self._deadline(sa) for sa in self.sas.values()) if t is not None]
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        self._now = now
        for sa in list(self.sas.values()):
            t = sa.next_deadline()
            if t is not None and t <= now:
                sa.handle_timer(now)
            lifecycle.run(sa, now)

    # ------------------------------------------------------------------- views
    def list_sas(self, now: float | None = None) -> list[dict[str, Any]]:
        now = self._now if now is None else now
        return [views.ike_sa_view(sa, self.backend, now)
                for sa in sorted(self.sas.values(), key=lambda s: s.uniqueid)]

    def list_conns(self) -> list[dict[str, Any]]:
        return [views.conn_view(c) for c in self.config.connections.values()]

    def stats(self) -> dict[str, int]:
        out = dict(self.counters)
        out["ike_sas"] = len(self.sas)
        out["ike_sas_half_open"] = len(self.half_open)
        out["child_sas"] = sum(len(sa.children) for sa in self.sas.values())
        try:
            for k, v in self.backend.stats().items():
                out[f"esp_{k}"] = v
        except Exception:  # pragma: no cover - a backend without stats
            pass
        return out


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class _DeleteOld:
    """The last step of a reauthentication: delete the IKE SA it replaces."""

    exchange = ExchangeType.INFORMATIONAL

    def __init__(self, old: IkeSa) -> None:
        self.old = old

    def build_i(self, sa: IkeSa, now: float) -> list[Any] | None:
        if self.old.state == ESTABLISHED:
            self.old.rekeyed = True
            self.old.queue.clear()
            self.old.queue_task(informational.DeleteIke(), now)
        return None

    def process_i(self, sa: IkeSa, payloads: Sequence[Any], now: float) -> str:
        return "done"

    def give_up(self, sa: IkeSa, now: float) -> None:
        pass
