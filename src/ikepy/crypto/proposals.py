"""strongSwan's proposal syntax, conversion to and from SA payload proposals,
and the responder's proposal selection.

Syntax (``ike=`` / ``esp_proposals=`` of swanctl.conf)::

    proposals := proposal ("," proposal)*
    proposal  := "default" | token ("-" token)*

Tokens (see ``tokens_for``): ``aes128 aes192 aes256 aes`` (= aes128),
``aes{128,192,256}gcm{8,12,16}`` and the bit aliases ``gcm{64,96,128}``,
``chacha20poly1305``, ``3des`` (weak); ``sha1 sha256 sha384 sha512`` and
``md5`` (weak) are integrity algorithms, and in IKE proposals also the PRF
when no ``prf...`` token is given; ``prfsha1 prfsha256 prfsha384 prfsha512
prfmd5`` (weak, IKE only); ``modp2048 modp3072 modp4096 modp6144 modp8192
modp1024`` (weak) ``ecp256 ecp384 ecp521 x25519 curve25519 x448 curve448``;
``esn noesn`` (ESP only; the default is noesn).

Rules, as strongSwan applies them:

- IKE: at least one cipher and one KE method; a PRF (explicit, or from the
  integrity tokens); non-AEAD ciphers need an integrity algorithm.  An
  all-AEAD IKE proposal without any PRF or integrity token is refused
  ("needs a prf token").
- ESP: no PRF; KE optional (PFS); ESN defaults to noesn.
- AEAD ciphers take no integrity algorithm: integrity tokens are dropped for
  them (in IKE they still provide the PRF).  A proposal mixing AEAD and
  classic ciphers is split in two, AEAD first, as strongSwan does.
- Tokens are case-insensitive; duplicates are dropped, order is preference.

``default`` (RFC 8247 "MUST/SHOULD" algorithms only; no SHA-1, no groups
below 2048 bits; the key exchange order is strongSwan 5.9's)::

    IKE: aes128gcm16-aes192gcm16-aes256gcm16-chacha20poly1305-
         prfsha256-prfsha384-prfsha512-x25519-x448-ecp256-ecp384-ecp521-
         modp3072-modp4096-modp6144-modp8192-modp2048
         aes128-aes192-aes256-sha256-sha384-sha512-<same KE methods>
    ESP: aes128gcm16-aes256gcm16-chacha20poly1305-<same KE methods>   (PFS)
         aes128-aes192-aes256-sha256-sha384-sha512-<same KE methods>
         aes128gcm16-aes256gcm16-chacha20poly1305                     (no PFS,
         aes128-aes192-aes256-sha256-sha384-sha512                     for peers without)

RFC 8247 policy: the weak algorithms (3DES, HMAC-MD5 as PRF or integrity,
MODP 1024) are never part of ``default`` and are only offered or accepted
when named explicitly; ``parse_proposals`` then issues a
``WeakAlgorithmWarning`` through ``warnings.warn`` naming them (and
``weak_algorithms(specs)`` lists them for the config layer to log).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ikepy.wire.enums import (
    EncrId,
    EsnId,
    IntegId,
    KeId,
    PrfId,
    ProtocolId,
    TransformAttributeType,
    TransformType,
)
from ikepy.wire.payloads import Proposal, Transform, TransformAttribute

from .transforms import ENCR, INTEG, KE, PRF

__all__ = [
    "ProposalError",
    "ProposalSpec",
    "SelectedAlgorithms",
    "WeakAlgorithmWarning",
    "describe",
    "explain_mismatch",
    "parse_proposals",
    "select_proposal",
    "tokens_for",
    "weak_algorithms",
]


class ProposalError(ValueError):
    """A proposal string that cannot be used; names the token and what is
    allowed for the protocol."""

    def __init__(self, message: str, token: str | None = None) -> None:
        super().__init__(message)
        self.token = token


class WeakAlgorithmWarning(UserWarning):
    """An algorithm RFC 8247 deprecates was named explicitly."""


EncrAlg = tuple[int, int | None]

# -- token tables -------------------------------------------------------------

_ENCR_TOKENS: dict[str, EncrAlg] = {
    "aes": (EncrId.AES_CBC, 128),
    "aes128": (EncrId.AES_CBC, 128),
    "aes192": (EncrId.AES_CBC, 192),
    "aes256": (EncrId.AES_CBC, 256),
    "chacha20poly1305": (EncrId.CHACHA20_POLY1305, None),
    "3des": (EncrId.TRIPLE_DES, None),
}
for _bits in (128, 192, 256):
    for _icv, _eid in ((8, EncrId.AES_GCM_8), (12, EncrId.AES_GCM_12), (16, EncrId.AES_GCM_16)):
        _ENCR_TOKENS[f"aes{_bits}gcm{_icv}"] = (_eid, _bits)
        _ENCR_TOKENS[f"aes{_bits}gcm{_icv * 8}"] = (_eid, _bits)

_INTEG_TOKENS: dict[str, int] = {
    "sha1": IntegId.HMAC_SHA1_96,
    "sha256": IntegId.HMAC_SHA2_256_128,
    "sha384": IntegId.HMAC_SHA2_384_192,
    "sha512": IntegId.HMAC_SHA2_512_256,
    "md5": IntegId.HMAC_MD5_96,
}
# The PRF an integrity token implies in IKE proposals (strongSwan).
_INTEG_TO_PRF: dict[int, int] = {
    IntegId.HMAC_SHA1_96: PrfId.HMAC_SHA1,
    IntegId.HMAC_SHA2_256_128: PrfId.HMAC_SHA2_256,
    IntegId.HMAC_SHA2_384_192: PrfId.HMAC_SHA2_384,
    IntegId.HMAC_SHA2_512_256: PrfId.HMAC_SHA2_512,
    IntegId.HMAC_MD5_96: PrfId.HMAC_MD5,
}
_PRF_TOKENS: dict[str, int] = {
    "prfsha1": PrfId.HMAC_SHA1,
    "prfsha256": PrfId.HMAC_SHA2_256,
    "prfsha384": PrfId.HMAC_SHA2_384,
    "prfsha512": PrfId.HMAC_SHA2_512,
    "prfmd5": PrfId.HMAC_MD5,
}
_KE_TOKENS: dict[str, int] = {
    "modp1024": KeId.MODP_1024,
    "modp2048": KeId.MODP_2048,
    "modp3072": KeId.MODP_3072,
    "modp4096": KeId.MODP_4096,
    "modp6144": KeId.MODP_6144,
    "modp8192": KeId.MODP_8192,
    "ecp256": KeId.ECP_256,
    "ecp384": KeId.ECP_384,
    "ecp521": KeId.ECP_521,
    "x25519": KeId.CURVE25519,
    "curve25519": KeId.CURVE25519,
    "x448": KeId.CURVE448,
    "curve448": KeId.CURVE448,
}
_ESN_TOKENS: dict[str, int] = {"esn": EsnId.ESN, "noesn": EsnId.NO_ESN}

# Canonical token for each algorithm (first spelling wins), for describe().
_ENCR_NAMES: dict[EncrAlg, str] = {}
for _tok, _alg in _ENCR_TOKENS.items():
    if _tok != "aes" and not _tok.endswith(("gcm64", "gcm96", "gcm128")):
        _ENCR_NAMES.setdefault(_alg, _tok)
_INTEG_NAMES = {v: k for k, v in _INTEG_TOKENS.items()}
_PRF_NAMES = {v: k for k, v in _PRF_TOKENS.items()}
_KE_NAMES: dict[int, str] = {}
for _tok, _kid in _KE_TOKENS.items():
    _KE_NAMES.setdefault(_kid, _tok)
_ESN_NAMES = {v: k for k, v in _ESN_TOKENS.items()}

_DEFAULT_KE = "x25519-x448-ecp256-ecp384-ecp521-modp3072-modp4096-modp6144-modp8192-modp2048"
_DEFAULTS: dict[int, tuple[str, ...]] = {
    ProtocolId.IKE: (
        "aes128gcm16-aes192gcm16-aes256gcm16-chacha20poly1305-prfsha256-prfsha384-prfsha512-"
        + _DEFAULT_KE,
        "aes128-aes192-aes256-sha256-sha384-sha512-prfsha256-prfsha384-prfsha512-" + _DEFAULT_KE,
    ),
    # PFS first (a fresh key exchange on every CREATE_CHILD_SA), then the same without it,
    # so that a peer configured without PFS (strongSwan's own default) still agrees
    ProtocolId.ESP: (
        "aes128gcm16-aes256gcm16-chacha20poly1305-" + _DEFAULT_KE,
        "aes128-aes192-aes256-sha256-sha384-sha512-" + _DEFAULT_KE,
        "aes128gcm16-aes256gcm16-chacha20poly1305",
        "aes128-aes192-aes256-sha256-sha384-sha512",
    ),
}


def tokens_for(protocol: int) -> list[str]:
    """Every token allowed in a proposal for ``protocol`` (IKE or ESP)."""
    toks = [*_ENCR_TOKENS, *_INTEG_TOKENS]
    if protocol == ProtocolId.IKE:
        toks += [*_PRF_TOKENS, *_KE_TOKENS]
    else:
        toks += [*_KE_TOKENS, *_ESN_TOKENS]
    return toks + ["default"]


# -- the spec -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProposalSpec:
    """One configured proposal: algorithms per transform type, in preference
    order.  ``encr`` holds (transform id, key bits or None for fixed-size
    ciphers); ids of algorithms we do not implement can appear when the spec
    was built ``from_wire`` (they are shown, never selected)."""

    protocol_id: int
    encr: tuple[EncrAlg, ...]
    prf: tuple[int, ...] = ()
    integ: tuple[int, ...] = ()
    ke: tuple[int, ...] = ()
    esn: tuple[int, ...] = ()
    other: tuple[tuple[int, int], ...] = field(default=())  # unknown (type, id)

    def to_wire(self, number: int, spi: bytes = b"") -> Proposal:
        """The SA payload proposal (RFC 7296 3.3.1): ENCR (with a Key Length
        attribute for AES), PRF, INTEG, KE, ESN transforms in that order."""
        ts: list[Transform] = []
        for eid, bits in self.encr:
            spec = ENCR.get(eid)
            attrs: tuple[TransformAttribute, ...] = ()
            if bits is not None and (spec is None or spec.key_attr):
                attrs = (TransformAttribute(TransformAttributeType.KEY_LENGTH, bits),)
            ts.append(Transform(TransformType.ENCR, eid, attrs))
        ts += [Transform(TransformType.PRF, i) for i in self.prf]
        ts += [Transform(TransformType.INTEG, i) for i in self.integ]
        ts += [Transform(TransformType.KE, i) for i in self.ke]
        ts += [Transform(TransformType.ESN, i) for i in self.esn]
        return Proposal(number, self.protocol_id, spi, tuple(ts))

    @classmethod
    def from_wire(cls, p: Proposal) -> ProposalSpec:
        """The algorithms of a received proposal (for selection and logs)."""
        encr: list[EncrAlg] = []
        lists: dict[int, list[int]] = {
            TransformType.PRF: [],
            TransformType.INTEG: [],
            TransformType.KE: [],
            TransformType.ESN: [],
        }
        other: list[tuple[int, int]] = []
        for t in p.transforms:
            if t.transform_type == TransformType.ENCR:
                spec = ENCR.get(t.transform_id)
                bits = t.key_length
                if bits is None and spec is not None and not spec.key_attr:
                    bits = None
                encr.append((t.transform_id, bits))
            elif t.transform_type in lists:
                lists[t.transform_type].append(t.transform_id)
            else:
                other.append((t.transform_type, t.transform_id))
        return cls(
            p.protocol_id,
            tuple(encr),
            tuple(lists[TransformType.PRF]),
            tuple(lists[TransformType.INTEG]),
            tuple(lists[TransformType.KE]),
            tuple(lists[TransformType.ESN]),
            tuple(other),
        )

    def describe(self) -> str:
        return describe(self)


def _encr_token(alg: EncrAlg) -> str:
    name = _ENCR_NAMES.get(alg)
    if name is not None:
        return name
    eid, bits = alg
    try:
        base = EncrId(eid).name.lower()
    except ValueError:
        base = f"encr{eid}"
    return f"{base}{bits}" if bits else base


def _name(table: dict[int, str], value: int, kind: str, enum: type) -> str:
    if value in table:
        return table[value]
    try:
        return f"{kind}_{enum(value).name.lower()}"
    except ValueError:
        return f"{kind}{value}"


def describe(spec: ProposalSpec) -> str:
    """The proposal in strongSwan syntax; for our own specs it parses back to
    the same spec.  Unknown algorithms are shown as ``encr<id>`` etc."""
    parts = [_encr_token(a) for a in spec.encr]
    parts += [_name(_INTEG_NAMES, i, "integ", IntegId) for i in spec.integ]
    parts += [_name(_PRF_NAMES, i, "prf", PrfId) for i in spec.prf]
    parts += [_name(_KE_NAMES, i, "ke", KeId) for i in spec.ke]
    if spec.protocol_id != ProtocolId.IKE and spec.esn and spec.esn != (EsnId.NO_ESN,):
        parts += [_ESN_NAMES.get(i, f"esn{i}") for i in spec.esn]
    parts += [f"type{t}:{i}" for t, i in spec.other]
    return "-".join(parts) if parts else "(empty)"


# -- parsing --------------------------------------------------------------------


def _error(token: str, protocol: int, why: str) -> ProposalError:
    allowed = " ".join(tokens_for(protocol))
    proto = ProtocolId(protocol).name
    return ProposalError(f"{why} {token!r} in {proto} proposal; allowed: {allowed}", token)


def _dedup(seq: Iterable[int]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(seq))


def _parse_one(text: str, protocol: int) -> list[ProposalSpec]:
    encr: list[EncrAlg] = []
    integ: list[int] = []
    prf: list[int] = []
    ke: list[int] = []
    esn: list[int] = []
    is_ike = protocol == ProtocolId.IKE
    for raw in text.split("-"):
        tok = raw.strip().lower()
        if not tok:
            raise _error(raw, protocol, "empty algorithm in")
        if tok in _ENCR_TOKENS:
            encr.append(_ENCR_TOKENS[tok])
        elif tok in _INTEG_TOKENS:
            integ.append(_INTEG_TOKENS[tok])
        elif tok in _PRF_TOKENS and is_ike:
            prf.append(_PRF_TOKENS[tok])
        elif tok in _KE_TOKENS:
            ke.append(_KE_TOKENS[tok])
        elif tok in _ESN_TOKENS and not is_ike:
            esn.append(_ESN_TOKENS[tok])
        elif tok == "default":
            raise _error(tok, protocol, "'default' must stand alone, not")
        else:
            raise _error(tok, protocol, "unknown algorithm")
    encr = list(dict.fromkeys(encr))
    if not encr:
        raise _error(text, protocol, "no encryption algorithm in")
    if is_ike and not prf:
        prf = [_INTEG_TO_PRF[i] for i in integ]
    if is_ike and not ke:
        raise _error(text, protocol, "no key exchange method in")
    if not is_ike and not esn:
        esn = [EsnId.NO_ESN]
    aead = [a for a in encr if ENCR[a[0]].aead]
    classic = [a for a in encr if not ENCR[a[0]].aead]
    out: list[ProposalSpec] = []
    if aead:
        if is_ike and not prf:
            raise _error(text, protocol, "AEAD proposal needs a prf token (e.g. prfsha256), got")
        out.append(ProposalSpec(protocol, tuple(aead), _dedup(prf), (), _dedup(ke), _dedup(esn)))
    if classic:
        if not integ:
            raise _error(text, protocol, "no integrity algorithm (e.g. sha256) in")
        out.append(
            ProposalSpec(
                protocol, tuple(classic), _dedup(prf), _dedup(integ), _dedup(ke), _dedup(esn)
            )
        )
    return out


def weak_algorithms(specs: Iterable[ProposalSpec]) -> list[str]:
    """Tokens of the RFC 8247-deprecated algorithms used in ``specs``."""
    found: list[str] = []
    for s in specs:
        found += [_encr_token(a) for a in s.encr if a[0] in ENCR and ENCR[a[0]].weak]
        found += [_INTEG_NAMES[i] for i in s.integ if i in INTEG and INTEG[i].weak]
        found += ["prf" + _INTEG_NAMES.get(i, "md5") for i in s.prf if i in PRF and PRF[i].weak]
        found += [_KE_NAMES[i] for i in s.ke if i in KE and KE[i].weak]
    return list(dict.fromkeys(found))


def parse_proposals(text: str, protocol: int) -> tuple[ProposalSpec, ...]:
    """Parse a comma-separated strongSwan proposal list for ``protocol``
    (``ProtocolId.IKE`` or ``ProtocolId.ESP``/``AH``-less ESP only).

    Raises ``ProposalError``; warns ``WeakAlgorithmWarning`` when an RFC 8247
    deprecated algorithm is named.
    """
    if protocol not in _DEFAULTS:
        raise ProposalError(f"proposals for protocol {protocol} are not supported (IKE, ESP only)")
    specs: list[ProposalSpec] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise _error(part, protocol, "empty proposal")
        if part.lower() == "default":
            for d in _DEFAULTS[protocol]:
                specs += _parse_one(d, protocol)
        else:
            specs += _parse_one(part, protocol)
    weak = weak_algorithms(specs)
    if weak:
        warnings.warn(
            WeakAlgorithmWarning(
                f"proposal {text!r} uses algorithms RFC 8247 deprecates: {', '.join(weak)}"
            ),
            stacklevel=2,
        )
    return tuple(specs)


# -- selection ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SelectedAlgorithms:
    """The negotiated algorithms of an SA."""

    encr_id: int
    encr_key_bits: int
    prf_id: int | None
    integ_id: int | None
    ke_id: int | None
    esn: bool

    @property
    def aead(self) -> bool:
        return ENCR[self.encr_id].aead


def _pick(ours: Sequence[int], theirs: Sequence[int]) -> int | None:
    for a in ours:
        if a in theirs:
            return a
    return None


def _match(ours: ProposalSpec, theirs: Proposal, ignore_ke: bool) -> SelectedAlgorithms | None:
    if theirs.protocol_id != ours.protocol_id:
        return None
    t = ProposalSpec.from_wire(theirs)
    # A transform type we do not know makes the proposal unacceptable
    # (RFC 7296 3.3.6), unless NONE (0) is one of its choices (RFC 9370).
    other_types = {ty for ty, _ in t.other}
    for ty in other_types:
        if (ty, 0) not in t.other:
            return None
    encr = next((a for a in ours.encr if a in t.encr), None)
    if encr is None:
        return None
    spec = ENCR[encr[0]]
    bits = encr[1] if encr[1] is not None else spec.key_sizes[0]
    is_ike = ours.protocol_id == ProtocolId.IKE
    prf_id = None
    if is_ike:
        prf_id = _pick(ours.prf, t.prf)
        if prf_id is None:
            return None
    integ_id = None
    if spec.aead:
        # RFC 5282 8: INTEG must be absent (or NONE) with an AEAD cipher.
        if any(i != IntegId.NONE for i in t.integ):
            return None
    else:
        integ_id = _pick(ours.integ, t.integ)
        if integ_id is None:
            return None
    ke_id = None
    if not ignore_ke:
        if ours.ke:
            ke_id = _pick(ours.ke, t.ke)
            if ke_id is None:
                return None
        elif t.ke and KeId.NONE not in t.ke:
            return None  # they insist on PFS we are not configured for
    esn = False
    if not is_ike:
        their_esn = t.esn or (EsnId.NO_ESN,)
        chosen = _pick(ours.esn or (EsnId.NO_ESN,), their_esn)
        if chosen is None:
            return None
        esn = chosen == EsnId.ESN
    return SelectedAlgorithms(encr[0], bits, prf_id, integ_id, ke_id, esn)


def select_proposal(
    ours: Sequence[ProposalSpec], theirs: Sequence[Proposal], *, ignore_ke: bool = False
) -> tuple[Proposal, SelectedAlgorithms] | None:
    """The responder's choice (our preference): the first of ``ours`` that
    matches any of ``theirs``, scanning theirs in their order; within the
    match each transform type takes the first of our algorithms they offer.

    Returns the wire proposal to answer with (their proposal number and SPI,
    one transform per type) and the selected algorithms, or None
    (NO_PROPOSAL_CHOSEN).  ``ignore_ke`` skips KE matching (the Child SA
    created in IKE_AUTH, RFC 7296 1.2).
    """
    for mine in ours:
        for p in theirs:
            sel = _match(mine, p, ignore_ke)
            if sel is None:
                continue
            key_bits: int | None = sel.encr_key_bits if ENCR[sel.encr_id].key_attr else None
            chosen = ProposalSpec(
                p.protocol_id,
                ((sel.encr_id, key_bits),),
                (sel.prf_id,) if sel.prf_id is not None else (),
                (sel.integ_id,) if sel.integ_id is not None else (),
                (sel.ke_id,) if sel.ke_id is not None else (),
                (EsnId(int(sel.esn)),) if p.protocol_id != ProtocolId.IKE else (),
            )
            return chosen.to_wire(p.number, p.spi), sel
    return None


def explain_mismatch(ours: Sequence[ProposalSpec], theirs: Sequence[Proposal]) -> str:
    """Operator-facing text for NO_PROPOSAL_CHOSEN: what the peer offered and
    what we allow, both in strongSwan syntax."""
    offered = ", ".join(
        f"#{p.number} {_proto_name(p.protocol_id)}:{describe(ProposalSpec.from_wire(p))}"
        for p in theirs
    )
    allowed = ", ".join(f"{_proto_name(s.protocol_id)}:{describe(s)}" for s in ours)
    return (
        f"no acceptable proposal: peer offered [{offered or 'nothing'}]; "
        f"configured [{allowed or 'nothing'}]"
    )


def _proto_name(protocol_id: int) -> str:
    try:
        return ProtocolId(protocol_id).name
    except ValueError:
        return f"proto{protocol_id}"
