"""One IKE SA and its task manager (RFC 7296 2.1-2.3).

The IKE SA is sans-I/O: datagrams come in through ``receive``, time through
``handle_timer``; what it wants sent goes to the manager's outbox. It runs one
exchange at a time as initiator (window size 1, RFC 7296 2.3) from a queue of
small tasks, answers the peer's requests in message-ID order, and keeps the
last response to answer a retransmitted request without processing it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..crypto.sk import IntegrityError, SkCipher, protect_message, unprotect_message
from ..wire.enums import ExchangeType, HeaderFlags, NotifyType, PayloadType
from ..wire.errors import CodecError
from ..wire.header import IkeHeader
from ..wire.message import Message, serialize_message
from ..wire.payloads import NotifyPayload
from ..wire.rules import check_rules
from . import events as ev
from .errors import ProtocolError

if TYPE_CHECKING:
    from .child_sa import ChildSa
    from .identity import Identity
    from .manager import IkeManager

log = logging.getLogger("ikepy.ike")

# IKE SA states, named as strongSwan names them in --list-sas
CREATED = "CREATED"
CONNECTING = "CONNECTING"
ESTABLISHED = "ESTABLISHED"
DELETING = "DELETING"
DESTROYED = "DESTROYED"

# results of Task.process_i
DONE = "done"          # the exchange is complete, run the next task
RETRY = "retry"        # build and send this task's request again (COOKIE, INVALID_KE_PAYLOAD)
DESTROY = "destroy"    # the IKE SA is dead: destroy it without further exchanges


class Task(Protocol):
    """One exchange we initiate: ``build_i`` makes the request, ``process_i`` reads the response."""

    @property
    def exchange(self) -> int: ...

    def build_i(self, sa: IkeSa, now: float) -> list[Any] | None:
        """The request's payloads, or None when there is nothing to do after all."""

    def process_i(self, sa: IkeSa, payloads: Sequence[Any], now: float) -> str: ...

    def give_up(self, sa: IkeSa, now: float) -> None: ...


@dataclass(slots=True)
class _Outstanding:
    task: Task
    message_id: int
    packet: bytes
    tries: int = 0
    next_retransmit: float = 0.0


@dataclass(slots=True)
class IkeSa:
    mgr: IkeManager
    conn: Any  # config.model.Connection
    uniqueid: int
    initiator: bool
    spi_i: bytes
    spi_r: bytes
    local: tuple[str, int]
    remote: tuple[str, int]
    created_at: float
    state: str = CREATED
    # IKE_SA_INIT results
    selected: Any = None  # crypto.proposals.SelectedAlgorithms
    proposal: Any = None  # the chosen wire Proposal
    keys: Any = None  # crypto.keymat.IkeKeys
    prf: Any = None  # crypto.prf.Prf
    cipher_out: SkCipher | None = None
    cipher_in: SkCipher | None = None
    ni: bytes = b""
    nr: bytes = b""
    ke: Any = None  # crypto.ke.KeyExchange (ours)
    init_request: bytes = b""   # RealMessage1 (RFC 7296 2.15)
    init_response: bytes = b""  # RealMessage2
    nat_local: bool = False   # we are behind a NAT (or fake it: encap = yes)
    nat_remote: bool = False  # the peer is behind a NAT
    # IKE_AUTH results
    local_id: Identity | None = None
    remote_id: Identity | None = None
    established_at: float = 0.0
    # task manager (RFC 7296 2.1-2.3)
    my_mid: int = 0     # the next request we send
    peer_mid: int = 0   # the next request we expect
    queue: list[Task] = field(default_factory=list)
    active: _Outstanding | None = None
    last_response: tuple[int, bytes] | None = None
    destroy_after_response: bool = False
    after_destroy: Callable[[float], None] | None = None
    children: list[ChildSa] = field(default_factory=list)
    # the child configs the initiator still has to create, with their requesters
    pending_children: list[Any] = field(default_factory=list)
    last_peer_activity: float = 0.0
    # lifecycle (RFC 7296 2.8, 2.18): rekey, reauthentication and hard expiry times
    rekey_at: float | None = None
    reauth_at: float | None = None
    expire_at: float | None = None
    rekeying: bool = False  # our IKE_SA rekey is queued or under way
    rekeyed: bool = False   # superseded by a rekeyed IKE SA; waits for its delete
    # the IKE SA we made answering the peer's rekey during ours, with (Ni, Nr) (2.8.1)
    peer_rekey: tuple[IkeSa, bytes, bytes] | None = None
    attempt: int = 1        # keyingtries
    requested: list[Any] = field(default_factory=list)  # child configs asked for at initiate

    # ------------------------------------------------------------------ naming
    @property
    def name(self) -> str:
        return str(self.conn.name)

    @property
    def our_spi(self) -> bytes:
        return self.spi_i if self.initiator else self.spi_r

    def prf_compute(self, key: bytes, data: bytes) -> bytes:
        return bytes(self.prf.compute(key, data))

    def prefix(self) -> str:
        return (f"{self.mgr.log_name}{self.name}[{self.uniqueid}] "
                f"{self.spi_i.hex()}_i {self.spi_r.hex()}_r")

    def info(self, msg: str, *args: Any) -> None:
        if log.isEnabledFor(logging.INFO):
            log.info("%s: " + msg, self.prefix(), *args)

    def warn(self, msg: str, *args: Any) -> None:
        log.warning("%s: " + msg, self.prefix(), *args)

    def emit(self, kind: str, reason: str = "", child: ChildSa | None = None, message: str = "") -> None:
        self.mgr.emit(ev.Event(
            kind=kind, ike_name=self.name,
            child_name=child.name if child else None,
            reason=reason, message=message or f"{self.prefix()}: {reason}",
            ike_uniqueid=self.uniqueid, child_uniqueid=child.uniqueid if child else 0))

    # ------------------------------------------------------------- sending
    def queue_task(self, task: Task, now: float) -> None:
        self.queue.append(task)
        self._kick(now)

    def kick(self, now: float) -> None:
        """Start the next queued exchange if none is under way."""
        self._kick(now)

    def _kick(self, now: float) -> None:
        if self.active is not None or not self.queue or self.state == DESTROYED:
            return
        task = self.queue.pop(0)
        self._send_request(task, now)

    def _send_request(self, task: Task, now: float) -> None:
        payloads = task.build_i(self, now)
        if self.state == DESTROYED:
            return
        if payloads is None:
            self._kick(now)
            return
        packet = self.pack(task.exchange, False, self.my_mid, payloads)
        if task.exchange == ExchangeType.IKE_SA_INIT:
            self.init_request = packet
        self.active = _Outstanding(task, self.my_mid, packet, 0,
                                   now + self.retransmit_delay(0))
        self.mgr.send(packet, self.local, self.remote)

    def pack(self, exchange: int, response: bool, mid: int, payloads: Sequence[Any]) -> bytes:
        flags = 0
        if self.initiator:
            flags |= HeaderFlags.INITIATOR
        if response:
            flags |= HeaderFlags.RESPONSE
        header = IkeHeader(spi_i=self.spi_i, spi_r=self.spi_r, next_payload=0,
                           exchange_type=exchange, flags=flags, message_id=mid, length=0)
        if exchange == ExchangeType.IKE_SA_INIT:
            return serialize_message(Message(header, tuple(payloads)))
        assert self.cipher_out is not None
        return protect_message(header, payloads, self.cipher_out)

    # ------------------------------------------------------------ receiving
    def receive(self, raw: bytes, msg: Message, local: tuple[str, int], remote: tuple[str, int],
                now: float) -> None:
        hdr = msg.header
        if hdr.is_response:
            self._receive_response(raw, msg, local, remote, now)
        else:
            self._receive_request(raw, msg, local, remote, now)

    def _decrypt(self, raw: bytes, msg: Message, raise_malformed: bool = False
                 ) -> tuple[Any, ...] | None:
        """Inner payloads of an SK message, or None (dropped and counted).

        With ``raise_malformed`` (a request), an authenticated message that is
        malformed inside raises its CodecError, to be answered (RFC 7296 2.5).
        """
        if msg.header.exchange_type == ExchangeType.IKE_SA_INIT:
            return msg.payloads
        if self.cipher_in is None:
            self.mgr.count("dropped_no_keys")
            return None
        if not msg.payloads or msg.payloads[-1].PAYLOAD_TYPE != PayloadType.SK:
            self.mgr.count("dropped_unencrypted")
            log.debug("%s: dropped an unencrypted %s", self.prefix(), msg)
            return None
        try:
            return tuple(unprotect_message(raw, msg, self.cipher_in))
        except IntegrityError:
            self.mgr.count("dropped_integrity")
            self.warn("dropped %s: integrity check failed", _exname(msg.header.exchange_type))
            return None
        except CodecError as e:
            # authenticated, but malformed inside: a protocol violation by the peer
            if raise_malformed:
                raise
            self.mgr.count("dropped_malformed_inner")
            self.warn("dropped %s: malformed payload inside SK: %s", _exname(msg.header.exchange_type), e)
            return None

    def _receive_response(self, raw: bytes, msg: Message, local: tuple[str, int],
                          remote: tuple[str, int], now: float) -> None:
        act = self.active
        if act is None or msg.header.message_id != act.message_id:
            self.mgr.count("dropped_unexpected_response")
            return
        if msg.header.exchange_type != act.task.exchange:
            self.mgr.count("dropped_unexpected_response")
            return
        payloads = self._decrypt(raw, msg)
        if payloads is None:
            return
        if act.task.exchange == ExchangeType.IKE_SA_INIT:
            self.init_response = raw
            self.spi_r = msg.header.spi_r
        self.last_peer_activity = now
        self.active = None
        self.my_mid += 1
        try:
            check_rules(msg.header.exchange_type, True, payloads)
            result = act.task.process_i(self, payloads, now)
        except (ProtocolError, CodecError) as e:
            self.warn("%s response rejected: %s", _exname(act.task.exchange), e)
            act.task.give_up(self, now)
            result = DESTROY
        if result == RETRY:
            if act.task.exchange == ExchangeType.IKE_SA_INIT:
                # IKE_SA_INIT again with a COOKIE or another group: a fresh start, message ID 0
                self.my_mid = 0
                self.spi_r = bytes(8)
            self._send_request(act.task, now)
            return
        if result == DESTROY:
            self.mgr.destroy(self, now)
            return
        self._kick(now)

    def _receive_request(self, raw: bytes, msg: Message, local: tuple[str, int],
                         remote: tuple[str, int], now: float) -> None:
        mid = msg.header.message_id
        if self.last_response is not None and mid == self.last_response[0]:
            # a retransmitted request: answer from the cache, never process twice (2.1)
            self.mgr.count("retransmits_answered")
            self.mgr.send(self.last_response[1], self.local, self.remote)
            return
        if mid != self.peer_mid:
            self.mgr.count("dropped_bad_message_id")
            log.debug("%s: dropped request with message ID %d, expected %d",
                      self.prefix(), mid, self.peer_mid)
            return
        inner_error: CodecError | None = None
        try:
            payloads = self._decrypt(raw, msg, raise_malformed=True)
        except CodecError as e:
            # 2.5 / 3.10.1: an authenticated request that is malformed inside (or has an
            # unknown critical payload) is answered with the error, once, in order
            self.mgr.count("malformed_inner_requests")
            self.warn("%s request malformed inside SK: %s", _exname(msg.header.exchange_type), e)
            payloads, inner_error = (), e
        if payloads is None:
            return
        self.last_peer_activity = now
        if remote != self.remote or local != self.local:
            # RFC 7296 2.23: a NATed peer's port may change; follow authenticated requests
            self.remote, self.local = remote, local
        exchange = msg.header.exchange_type
        try:
            if inner_error is not None:
                raise inner_error
            check_rules(exchange, False, payloads)
            handler = self.mgr.responders.get(exchange)
            if handler is None:
                raise ProtocolError(NotifyType.INVALID_SYNTAX, f"unsupported exchange {exchange}")
            reply = handler(self, payloads, now)
        except ProtocolError as e:
            self.warn("%s request refused with %s: %s", _exname(exchange), e.notify_name, e)
            reply = [NotifyPayload(0, b"", e.notify, e.data)]
        except CodecError as e:
            if e is not inner_error:
                self.warn("%s request malformed: %s", _exname(exchange), e)
            reply = [NotifyPayload(0, b"", e.notify, getattr(e, "notify_data", b"") or b"")]
        packet = self.pack(exchange, True, mid, reply)
        self.last_response = (mid, packet)
        self.peer_mid = mid + 1
        self.mgr.send(packet, self.local, self.remote)
        if self.destroy_after_response:
            self.mgr.destroy(self, now)
            if self.after_destroy is not None:
                self.after_destroy(now)
        else:
            self._kick(now)

    # ---------------------------------------------------------------- timers
    def next_deadline(self) -> float | None:
        deadlines = []
        if self.active is not None:
            deadlines.append(self.active.next_retransmit)
        if self.state in (CREATED, CONNECTING) and not self.initiator:
            deadlines.append(self.created_at + self.mgr.options.half_open_timeout)
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        opts = self.mgr.options
        if self.state in (CREATED, CONNECTING) and not self.initiator:
            if now >= self.created_at + opts.half_open_timeout:
                self.info("half-open IKE_SA timed out after %.0fs", opts.half_open_timeout)
                self.mgr.count("half_open_expired")
                self.mgr.destroy(self, now)
                return
        act = self.active
        if act is None or now < act.next_retransmit:
            return
        if act.tries >= opts.retransmit_tries:
            self.warn("giving up after %d retransmits of %s request %d: the peer does not answer",
                      act.tries, _exname(act.task.exchange), act.message_id)
            self.active = None
            act.task.give_up(self, now)
            self.mgr.peer_dead(self, now, f"peer {self.remote[0]} did not answer "
                                          f"{_exname(act.task.exchange)} after {act.tries} "
                                          "retransmits")
            return
        act.tries += 1
        self.mgr.count("retransmits_sent")
        self.info("retransmit %d of %s request %d", act.tries, _exname(act.task.exchange),
                  act.message_id)
        act.next_retransmit = now + self.retransmit_delay(act.tries)
        self.mgr.send(act.packet, self.local, self.remote)

    def retransmit_delay(self, tries: int) -> float:
        """RFC 7296 2.1 with strongSwan's knobs: timeout * base**tries, less up to
        retransmit_jitter percent at random so that peers do not retransmit in step."""
        opts = self.mgr.options
        delay = opts.retransmit_timeout * (opts.retransmit_base ** tries)
        return delay - self.mgr.jitter(delay * opts.retransmit_jitter / 100.0)

    # ------------------------------------------------------------------ misc
    def find_child_by_spi(self, spi: int, inbound: bool) -> ChildSa | None:
        for c in self.children:
            if (c.spi_in if inbound else c.spi_out) == spi:
                return c
        return None

    def busy(self) -> bool:
        return self.active is not None or bool(self.queue)


def _exname(exchange: int) -> str:
    try:
        return ExchangeType(exchange).name
    except ValueError:
        return f"exchange {exchange}"


Responder = Callable[[IkeSa, Sequence[Any], float], list[Any]]
