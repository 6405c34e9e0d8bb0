"""strongSwan proposal syntax, wire conversion, RFC 8247 policy, selection."""

from __future__ import annotations

import warnings

import pytest

from ikepy.crypto.proposals import (
    ProposalError,
    ProposalSpec,
    SelectedAlgorithms,
    WeakAlgorithmWarning,
    describe,
    explain_mismatch,
    parse_proposals,
    select_proposal,
    weak_algorithms,
)
from ikepy.wire.enums import EncrId, IntegId, KeId, PrfId, ProtocolId, TransformType
from ikepy.wire.payloads import Proposal, SaPayload, Transform

IKE, ESP = ProtocolId.IKE, ProtocolId.ESP


def one(text: str, proto: int = IKE) -> ProposalSpec:
    (spec,) = parse_proposals(text, proto)
    return spec


@pytest.mark.parametrize(
    ("text", "proto", "expect"),
    [
        (
            "aes256gcm16-prfsha256-x25519",
            IKE,
            ((EncrId.AES_GCM_16, 256),),
        ),
        ("aes128-sha256-ecp256", IKE, ((EncrId.AES_CBC, 128),)),
        ("aes256-sha384-modp3072", IKE, ((EncrId.AES_CBC, 256),)),
        ("chacha20poly1305-prfsha512-x448", IKE, ((EncrId.CHACHA20_POLY1305, None),)),
        ("aes128-sha256-modp3072", IKE, ((EncrId.AES_CBC, 128),)),
        ("chacha20poly1305-prfsha384-ecp384", IKE, ((EncrId.CHACHA20_POLY1305, None),)),
        ("aes256gcm16-x25519", ESP, ((EncrId.AES_GCM_16, 256),)),
        ("aes128-sha256-esn", ESP, ((EncrId.AES_CBC, 128),)),
    ],
)
def test_parse_and_describe_round_trip(text: str, proto: int, expect: tuple) -> None:
    spec = one(text, proto)
    assert spec.encr == expect
    assert parse_proposals(describe(spec), proto) == (spec,)
    assert ProposalSpec.from_wire(spec.to_wire(1, b"" if proto == IKE else b"\0\0\0\1")) == spec


def test_parse_details() -> None:
    s = one("aes128-sha256-ecp256")
    assert (s.prf, s.integ, s.ke, s.esn) == (
        (PrfId.HMAC_SHA2_256,),
        (IntegId.HMAC_SHA2_256_128,),
        (KeId.ECP_256,),
        (),
    )
    s = one("aes256gcm16-prfsha256-x25519")
    assert (s.prf, s.integ, s.ke) == ((PrfId.HMAC_SHA2_256,), (), (KeId.CURVE25519,))
    s = one("aes256gcm16-x25519", ESP)
    assert (s.prf, s.integ, s.ke, s.esn) == ((), (), (KeId.CURVE25519,), (0,))
    s = one("aes128-sha256-esn", ESP)
    assert (s.integ, s.ke, s.esn) == ((IntegId.HMAC_SHA2_256_128,), (), (1,))
    assert one("aes-sha1-curve25519").encr == ((EncrId.AES_CBC, 128),)
    assert one("aes128gcm128-prfsha256-x25519") == one("aes128gcm16-prfsha256-x25519")
    assert one("aes128gcm64-prfsha256-x25519").encr == ((EncrId.AES_GCM_8, 128),)
    # integrity tokens give the PRF of an AEAD IKE proposal (strongSwan)
    assert one("aes128gcm16-sha384-x25519").prf == (PrfId.HMAC_SHA2_384,)
    # mixing AEAD and classic ciphers splits the proposal, AEAD first
    a, b = parse_proposals("aes128-aes128gcm16-sha256-x25519", IKE)
    assert a.encr == ((EncrId.AES_GCM_16, 128),) and a.integ == ()
    assert b.encr == ((EncrId.AES_CBC, 128),) and b.integ == (IntegId.HMAC_SHA2_256_128,)


def test_wire_form() -> None:
    p = one("aes256-sha256-modp3072").to_wire(1)
    types = [(t.transform_type, t.transform_id, t.key_length) for t in p.transforms]
    assert types == [
        (TransformType.ENCR, EncrId.AES_CBC, 256),
        (TransformType.PRF, PrfId.HMAC_SHA2_256, None),
        (TransformType.INTEG, IntegId.HMAC_SHA2_256_128, None),
        (TransformType.KE, KeId.MODP_3072, None),
    ]
    p = one("chacha20poly1305-aes256gcm16", ESP).to_wire(2, b"\x01\x02\x03\x04")
    assert [t.key_length for t in p.transforms if t.transform_type == 1] == [None, 256]
    assert [t.transform_id for t in p.transforms if t.transform_type == 5] == [0]
    # serializes with the wire codec
    assert SaPayload((p,)).serialize_body()


def test_default() -> None:
    ike = parse_proposals("default", IKE)
    assert len(ike) == 2 and ENCR_AEAD(ike[0]) and not ENCR_AEAD(ike[1])
    assert ike[0].ke[:3] == (KeId.CURVE25519, KeId.CURVE448, KeId.ECP_256)
    esp = parse_proposals("default", ESP)
    # PFS first (RFC 7296 2.8: a KE payload on every CREATE_CHILD_SA), then without it
    assert describe(esp[0]).startswith("aes128gcm16-aes256gcm16-chacha20poly1305-x25519-")
    assert describe(esp[1]).startswith("aes128-aes192-aes256-sha256-sha384-sha512-x25519-")
    assert describe(esp[2]) == "aes128gcm16-aes256gcm16-chacha20poly1305"
    assert describe(esp[3]) == "aes128-aes192-aes256-sha256-sha384-sha512"
    assert esp[0].ke == esp[1].ke == ike[0].ke and esp[2].ke == esp[3].ke == ()
    assert all(s.esn == (0,) for s in esp)
    assert weak_algorithms(ike + esp) == []
    both = parse_proposals("aes256-sha256-modp3072, default", IKE)
    assert len(both) == 3


def ENCR_AEAD(spec: ProposalSpec) -> bool:  # noqa: N802
    return all(e in (EncrId.AES_GCM_16, EncrId.CHACHA20_POLY1305) for e, _ in spec.encr)


@pytest.mark.parametrize(
    ("text", "proto", "token"),
    [
        ("aes128-sha257-x25519", IKE, "sha257"),
        ("aes128-sha256-x25519-esn", IKE, "esn"),  # ESN is ESP only
        ("aes128-sha256-prfsha256", ESP, "prfsha256"),  # no PRF in ESP
        ("aes128--sha256", IKE, ""),
        ("AES128-SHA256-bogus", IKE, "bogus"),
        ("aes128-sha256-default", IKE, "default"),
    ],
)
def test_bad_tokens(text: str, proto: int, token: str) -> None:
    with pytest.raises(ProposalError) as exc:
        parse_proposals(text, proto)
    assert exc.value.token == token
    assert "allowed:" in str(exc.value) and "aes256gcm16" in str(exc.value)
    if proto == ESP:
        assert "noesn" in str(exc.value) and "prfsha256" not in str(exc.value).split("allowed:")[1]


def test_structural_errors() -> None:
    with pytest.raises(ProposalError, match="prf"):
        parse_proposals("aes256gcm16-x25519", IKE)
    with pytest.raises(ProposalError, match="key exchange"):
        parse_proposals("aes128-sha256", IKE)
    with pytest.raises(ProposalError, match="integrity"):
        parse_proposals("aes128-prfsha256-x25519", IKE)
    with pytest.raises(ProposalError, match="integrity"):
        parse_proposals("aes128", ESP)
    with pytest.raises(ProposalError, match="encryption"):
        parse_proposals("sha256-x25519", IKE)
    with pytest.raises(ProposalError):
        parse_proposals("aes128-sha256-x25519,", IKE)


def test_weak_algorithms_warn() -> None:
    with pytest.warns(WeakAlgorithmWarning, match="3des.*md5.*modp1024"):
        specs = parse_proposals("3des-md5-modp1024", IKE)
    assert weak_algorithms(specs) == ["3des", "md5", "prfmd5", "modp1024"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parse_proposals("aes128-sha1-modp2048", IKE)  # SHA-1 is still allowed


# -- selection --------------------------------------------------------------------


def wire(text: str, proto: int = IKE, number: int = 1, spi: bytes = b"") -> Proposal:
    return one(text, proto).to_wire(number, spi)


def test_select_responder_preference() -> None:
    ours = parse_proposals("aes256gcm16-prfsha256-x25519, aes128-sha256-ecp256", IKE)
    theirs = [wire("aes128-sha256-ecp256", number=1), wire("aes256gcm16-prfsha256-x25519", number=2)]
    result = select_proposal(ours, theirs)
    assert result is not None
    chosen, sel = result
    assert chosen.number == 2  # our first proposal wins, though they listed it second
    assert sel == SelectedAlgorithms(EncrId.AES_GCM_16, 256, PrfId.HMAC_SHA2_256, None, 31, False)
    assert len(chosen.transforms) == 3


def test_select_transform_order_is_ours() -> None:
    ours = parse_proposals("aes256-aes128-sha512-sha256-ecp384-x25519", IKE)
    theirs = [wire("aes128-aes256-sha256-sha512-x25519-ecp384-prfsha256-prfsha512")]
    result = select_proposal(ours, theirs)
    assert result is not None
    chosen, sel = result
    assert (sel.encr_id, sel.encr_key_bits) == (EncrId.AES_CBC, 256)
    assert sel.integ_id == IntegId.HMAC_SHA2_512_256
    assert sel.prf_id == PrfId.HMAC_SHA2_512
    assert sel.ke_id == KeId.ECP_384
    assert [t.transform_id for t in chosen.transforms] == [12, 7, 14, 20]


def test_select_esp_spi_number_esn_pfs() -> None:
    ours = parse_proposals("aes256gcm16-esn-noesn", ESP)
    theirs = [wire("aes256gcm16-noesn", ESP, 3, b"\x11\x22\x33\x44")]
    result = select_proposal(ours, theirs)
    assert result is not None
    chosen, sel = result
    assert (chosen.number, chosen.spi, sel.esn, sel.ke_id, sel.prf_id) == (
        3,
        b"\x11\x22\x33\x44",
        False,
        None,
        None,
    )
    # They insist on PFS, we have none configured: no match unless KE ignored.
    theirs = [wire("aes256gcm16-x25519", ESP, 1, b"\0\0\0\1")]
    assert select_proposal(parse_proposals("aes256gcm16", ESP), theirs) is None
    assert select_proposal(parse_proposals("aes256gcm16", ESP), theirs, ignore_ke=True)
    # We want PFS, they offer none: no match.
    theirs = [wire("aes256gcm16", ESP, 1, b"\0\0\0\1")]
    assert select_proposal(parse_proposals("aes256gcm16-x25519", ESP), theirs) is None


def test_select_key_length_matters_and_weak_never_accepted() -> None:
    ours = parse_proposals("default", IKE)
    assert select_proposal(ours, [wire("aes192gcm12-prfsha256-x25519")]) is None
    with pytest.warns(WeakAlgorithmWarning):
        assert select_proposal(ours, [wire("3des-sha256-x25519")]) is None
    with pytest.warns(WeakAlgorithmWarning):
        assert select_proposal(ours, [wire("aes128-sha256-modp1024")]) is None
    # AES without its Key Length attribute never matches.
    bare = Proposal(1, IKE, b"", (Transform(1, 12), Transform(2, 5), Transform(3, 12), Transform(4, 19)))
    assert select_proposal(ours, [bare]) is None


def test_select_unknown_transform_type() -> None:
    ours = parse_proposals("aes128-sha256-x25519", IKE)
    p = wire("aes128-sha256-x25519")
    extra = Proposal(1, IKE, b"", p.transforms + (Transform(TransformType.ADDKE1, 36),))
    assert select_proposal(ours, [extra]) is None
    optional = Proposal(1, IKE, b"", extra.transforms + (Transform(TransformType.ADDKE1, 0),))
    assert select_proposal(ours, [optional]) is not None


def test_explain_mismatch() -> None:
    ours = parse_proposals("aes256gcm16-prfsha384-ecp384", IKE)
    theirs = [wire("aes128-sha1-modp2048"), Proposal(2, IKE, b"", (Transform(1, 99),))]
    assert select_proposal(ours, theirs) is None
    text = explain_mismatch(ours, theirs)
    assert "#1 IKE:aes128-sha1-prfsha1-modp2048" in text
    assert "encr99" in text
    assert "IKE:aes256gcm16-prfsha384-ecp384" in text
