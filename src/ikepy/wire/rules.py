"""Which payloads each exchange carries (RFC 7296 1.2-1.5, 2.6, 2.16, 2.23;
RFC 9242 IKE_INTERMEDIATE, RFC 9370 IKE_FOLLOWUP_KE), as a table.

``RULES[(exchange_type, is_response)]`` gives a ``MessageRule``: whether the
exchange is protected by SK, and for every payload type it may carry the
(min, max) count.  For encrypted exchanges the counts apply to the *inner*
payloads (after decryption); ``check_outer`` checks the unencrypted shape.

The table is deliberately structural, not semantic:

* IDi is 0..1 in IKE_AUTH requests, not exactly 1, because the second and
  later IKE_AUTH requests of an EAP exchange (RFC 7296 2.16) carry only EAP
  or only AUTH.  The engine knows which round it is in.
* Responses marked ``error_alternative`` may instead be a lone error Notify
  (or COOKIE / INVALID_KE_PAYLOAD in IKE_SA_INIT, 2.6 and 1.2): when such a
  Notify is present, the minimum counts are waived.
* Unknown non-critical payloads (``UnknownPayload``) are ignored here, as
  RFC 7296 3.2 requires.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from .enums import ExchangeType, NotifyType, PayloadType, enum_name
from .errors import InvalidSyntax
from .payloads import (
    EncryptedFragmentPayload,
    EncryptedPayload,
    NotifyPayload,
    Payload,
    UnknownPayload,
)

__all__ = ["ANY", "RULES", "MessageRule", "check_outer", "check_rules"]

#: "any number of" for a (min, max) pair.
ANY: Final = 0xFFFF

_COOKIE: Final = int(NotifyType.COOKIE)


@dataclass(frozen=True, slots=True)
class MessageRule:
    encrypted: bool
    payloads: Mapping[PayloadType, tuple[int, int]]
    #: a response that carries an error Notify (or COOKIE) may omit the rest
    error_alternative: bool = False


def _rule(
    encrypted: bool, error_alternative: bool = False, **counts: tuple[int, int]
) -> MessageRule:
    table = {PayloadType[name]: bounds for name, bounds in counts.items()}
    return MessageRule(encrypted, MappingProxyType(table), error_alternative)


_I = ExchangeType
_ONE = (1, 1)
_OPT = (0, 1)
_MANY = (0, ANY)

RULES: Final[Mapping[tuple[int, bool], MessageRule]] = MappingProxyType(
    {
        # 1.2: HDR, SAi1, KEi, Ni  -->  <--  HDR, SAr1, KEr, Nr, [CERTREQ]
        (_I.IKE_SA_INIT, False): _rule(
            False, SA=_ONE, KE=_ONE, NONCE=_ONE, NOTIFY=_MANY, VENDOR_ID=_MANY, CERTREQ=_MANY
        ),
        (_I.IKE_SA_INIT, True): _rule(
            False, True, SA=_ONE, KE=_ONE, NONCE=_ONE, NOTIFY=_MANY, VENDOR_ID=_MANY, CERTREQ=_MANY
        ),
        # 1.2, 2.16: SK {IDi, [CERT,] [CERTREQ,] [IDr,] AUTH, SAi2, TSi, TSr}
        (_I.IKE_AUTH, False): _rule(
            True,
            IDi=_OPT,
            IDr=_OPT,
            CERT=(0, 4),
            CERTREQ=_MANY,
            AUTH=_OPT,
            SA=_OPT,
            TSi=_OPT,
            TSr=_OPT,
            CP=_OPT,
            NOTIFY=_MANY,
            VENDOR_ID=_MANY,
            EAP=_OPT,
        ),
        (_I.IKE_AUTH, True): _rule(
            True,
            IDr=_OPT,
            CERT=(0, 4),
            AUTH=_OPT,
            SA=_OPT,
            TSi=_OPT,
            TSr=_OPT,
            CP=_OPT,
            NOTIFY=_MANY,
            VENDOR_ID=_MANY,
            EAP=_OPT,
        ),
        # 1.3: SK {[N(REKEY_SA)], SA, Ni, [KEi], [TSi, TSr]}
        (_I.CREATE_CHILD_SA, False): _rule(
            True, SA=_ONE, NONCE=_ONE, KE=_OPT, TSi=_OPT, TSr=_OPT, NOTIFY=_MANY, VENDOR_ID=_MANY
        ),
        (_I.CREATE_CHILD_SA, True): _rule(
            True,
            True,
            SA=_ONE,
            NONCE=_ONE,
            KE=_OPT,
            TSi=_OPT,
            TSr=_OPT,
            NOTIFY=_MANY,
            VENDOR_ID=_MANY,
        ),
        # 1.4: SK {[N,] [D,] [CP,] ...}
        (_I.INFORMATIONAL, False): _rule(
            True, NOTIFY=_MANY, DELETE=_MANY, CP=_MANY, VENDOR_ID=_MANY
        ),
        (_I.INFORMATIONAL, True): _rule(
            True, NOTIFY=_MANY, DELETE=_MANY, CP=_MANY, VENDOR_ID=_MANY
        ),
        # RFC 9242 / RFC 9370 3.2.2: SK {KEi(n)} in IKE_INTERMEDIATE
        (_I.IKE_INTERMEDIATE, False): _rule(True, KE=_OPT, NOTIFY=_MANY, VENDOR_ID=_MANY),
        (_I.IKE_INTERMEDIATE, True): _rule(True, KE=_OPT, NOTIFY=_MANY, VENDOR_ID=_MANY),
        # RFC 9370 2.2.4: SK {KEi(n), N(ADDITIONAL_KEY_EXCHANGE)}
        (_I.IKE_FOLLOWUP_KE, False): _rule(True, KE=_ONE, NOTIFY=_MANY, VENDOR_ID=_MANY),
        (_I.IKE_FOLLOWUP_KE, True): _rule(True, True, KE=_ONE, NOTIFY=_MANY, VENDOR_ID=_MANY),
    }
)


def _where(exchange_type: int, is_response: bool) -> str:
    return f"{enum_name(ExchangeType, exchange_type)} {'response' if is_response else 'request'}"


def _rule_for(exchange_type: int, is_response: bool) -> MessageRule:
    rule = RULES.get((exchange_type, is_response))
    if rule is None:
        raise InvalidSyntax(f"no message rules for exchange type {exchange_type}")
    return rule


def check_rules(exchange_type: int, is_response: bool, payloads: Sequence[Payload]) -> None:
    """Check the payload counts of a message (the inner payloads if encrypted).

    Raises InvalidSyntax naming the payload, its count and what is allowed.
    """
    rule = _rule_for(exchange_type, is_response)
    counts: dict[int, int] = {}
    waive = False
    for p in payloads:
        if isinstance(p, UnknownPayload):
            continue
        t = p.PAYLOAD_TYPE
        counts[t] = counts.get(t, 0) + 1
        if isinstance(p, NotifyPayload) and (p.notify_type < 16384 or p.notify_type == _COOKIE):
            waive = rule.error_alternative
    allowed = rule.payloads
    for t in counts:
        if t not in allowed:
            raise InvalidSyntax(
                f"{enum_name(PayloadType, t)} payload not allowed in {_where(exchange_type, is_response)}"
            )
    for t, (lo, hi) in allowed.items():
        c = counts.get(t, 0)
        if c > hi or (c < lo and not waive):
            bound = f"{lo}..{'any' if hi == ANY else hi}"
            raise InvalidSyntax(
                f"{_where(exchange_type, is_response)} has {c} {t.name} payload(s), expected {bound}"
            )


def check_outer(exchange_type: int, is_response: bool, payloads: Sequence[Payload]) -> None:
    """Check the unencrypted payloads of a message as received.

    Encrypted exchanges carry exactly one SK or SKF payload (RFC 7296 3.14,
    RFC 7383 2.5) and nothing else; IKE_SA_INIT carries none and is checked
    with ``check_rules`` directly.
    """
    rule = _rule_for(exchange_type, is_response)
    if rule.encrypted:
        known = [p for p in payloads if not isinstance(p, UnknownPayload)]
        if len(known) != 1 or not isinstance(known[0], EncryptedPayload | EncryptedFragmentPayload):
            raise InvalidSyntax(
                f"{_where(exchange_type, is_response)} must carry exactly one SK/SKF payload"
            )
    else:
        check_rules(exchange_type, is_response, payloads)
