"""linux/xfrm.h layouts: sizes and offsets on x86_64, and the packers' bytes.

Expected values come from include/uapi/linux/xfrm.h (linux-libc-dev 6.1),
printed by a C program with sizeof()/offsetof() on x86_64 (see the report of
issue "Kernel IPsec data plane"); they are hard-coded here on purpose.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

import pytest

from ikepy.dataplane.xfrm import uapi as u

# sizeof(struct ...) on x86_64
SIZES = {
    "XFRM_SELECTOR": 56, "XFRM_ID": 24, "XFRM_LIFETIME_CFG": 64, "XFRM_LIFETIME_CUR": 32,
    "XFRM_STATS": 12, "XFRM_USERSA_INFO": 224, "XFRM_USERPOLICY_INFO": 168,
    "XFRM_USER_TMPL": 64, "XFRM_USERSPI_INFO": 232, "XFRM_USERSA_ID": 24,
    "XFRM_ALGO": 68, "XFRM_ALGO_AUTH": 72, "XFRM_ALGO_AEAD": 72, "XFRM_ENCAP_TMPL": 24,
    "XFRM_REPLAY_STATE_ESN": 24, "XFRM_MARK": 8, "XFRM_USER_ACQUIRE": 280,
    "XFRM_USER_EXPIRE": 232, "XFRM_USERPOLICY_ID": 64, "XFRM_USER_POLEXPIRE": 176,
    "NLMSGHDR": 16, "NLATTR": 4,
}


@pytest.mark.parametrize(("name", "size"), sorted(SIZES.items()))
def test_struct_sizes(name, size):
    assert getattr(u, name).size == size


# offsetof() values from the C program
OFFSETS = [
    (u.XFRM_SELECTOR, ["daddr", "saddr", "dport", "dport_mask", "sport", "sport_mask", "family",
                       "prefixlen_d", "prefixlen_s", "proto", "ifindex", "user"],
     [0, 16, 32, 34, 36, 38, 40, 42, 43, 44, 48, 52]),
    (u.XFRM_ID, ["daddr", "spi", "proto"], [0, 16, 20]),
    (u.XFRM_USERSA_INFO, ["sel", "id", "saddr", "lft", "curlft", "stats", "seq", "reqid",
                          "family", "mode", "replay_window", "flags"],
     [0, 56, 80, 96, 160, 192, 204, 208, 212, 214, 215, 216]),
    (u.XFRM_USERPOLICY_INFO, ["sel", "lft", "curlft", "priority", "index", "dir", "action",
                              "flags", "share"], [0, 56, 120, 152, 156, 160, 161, 162, 163]),
    (u.XFRM_USER_TMPL, ["id", "family", "saddr", "reqid", "mode", "share", "optional",
                        "aalgos", "ealgos", "calgos"], [0, 24, 28, 44, 48, 49, 50, 52, 56, 60]),
    (u.XFRM_USERSPI_INFO, ["info", "min", "max"], [0, 224, 228]),
    (u.XFRM_USERSA_ID, ["daddr", "spi", "family", "proto"], [0, 16, 20, 22]),
    (u.XFRM_ALGO_AEAD, ["alg_name", "alg_key_len", "alg_icv_len"], [0, 64, 68]),
    (u.XFRM_ALGO_AUTH, ["alg_name", "alg_key_len", "alg_trunc_len"], [0, 64, 68]),
    (u.XFRM_ALGO, ["alg_name", "alg_key_len"], [0, 64]),
    (u.XFRM_ENCAP_TMPL, ["encap_type", "encap_sport", "encap_dport", "encap_oa"], [0, 2, 4, 8]),
    (u.XFRM_REPLAY_STATE_ESN, ["bmp_len", "oseq", "seq", "oseq_hi", "seq_hi", "replay_window"],
     [0, 4, 8, 12, 16, 20]),
    (u.XFRM_USER_ACQUIRE, ["id", "saddr", "sel", "policy", "aalgos", "ealgos", "calgos", "seq"],
     [0, 24, 40, 96, 264, 268, 272, 276]),
    (u.XFRM_USER_EXPIRE, ["state", "hard"], [0, 224]),
    (u.XFRM_USERPOLICY_ID, ["sel", "index", "dir"], [0, 56, 60]),
    (u.XFRM_LIFETIME_CUR, ["bytes", "packets", "add_time", "use_time"], [0, 8, 16, 24]),
]


@pytest.mark.parametrize(("st", "names", "offsets"), OFFSETS,
                         ids=[f"{len(o[1])}-fields-{o[0].size}" for o in OFFSETS])
def test_field_offsets(st, names, offsets):
    # 'NsIB...' formats: count the struct's own fields in declaration order
    got = []
    fmt = st.format.lstrip("=")
    pos = 0
    i = 0
    while i < len(fmt):
        j = i
        while fmt[j].isdigit():
            j += 1
        count = int(fmt[i:j]) if j > i else 1
        code = fmt[j]
        size = struct.calcsize("=" + code)
        if code == "x":
            pos += count
        elif code == "s":
            got.append(pos)
            pos += count
        else:
            for _ in range(count):
                got.append(pos)
                pos += size
        i = j + 1
    if st is u.XFRM_LIFETIME_CUR:
        assert got == offsets
    else:
        assert got[:len(offsets)] == offsets, names


def test_constants_match_header():
    assert (u.XFRM_MSG_NEWSA, u.XFRM_MSG_DELSA, u.XFRM_MSG_GETSA, u.XFRM_MSG_NEWPOLICY,
            u.XFRM_MSG_DELPOLICY, u.XFRM_MSG_GETPOLICY, u.XFRM_MSG_ALLOCSPI, u.XFRM_MSG_ACQUIRE,
            u.XFRM_MSG_EXPIRE, u.XFRM_MSG_UPDPOLICY, u.XFRM_MSG_UPDSA) == \
        (16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26)
    assert (u.XFRMA_ALG_AUTH, u.XFRMA_ALG_CRYPT, u.XFRMA_ENCAP, u.XFRMA_TMPL, u.XFRMA_SRCADDR,
            u.XFRMA_ALG_AEAD, u.XFRMA_ALG_AUTH_TRUNC, u.XFRMA_MARK, u.XFRMA_REPLAY_ESN_VAL,
            u.XFRMA_IF_ID) == (1, 2, 4, 5, 13, 18, 20, 21, 23, 31)
    assert (u.XFRMNLGRP_ACQUIRE, u.XFRMNLGRP_EXPIRE) == (1, 2)
    assert u.XFRM_STATE_ESN == 128 and u.XFRM_STATE_AF_UNSPEC == 32
    assert (u.UDP_ENCAP, u.UDP_ENCAP_ESPINUDP, u.IP_XFRM_POLICY, u.IPV6_XFRM_POLICY) == \
        (100, 2, 17, 35)


def test_selector_bytes():
    sel = u.XfrmSelector(daddr=ipaddress.ip_address("10.2.0.0"),
                         saddr=ipaddress.ip_address("10.1.0.0"), prefixlen_d=24, prefixlen_s=16,
                         family=socket.AF_INET, proto=6, dport=443, dport_mask=0xFFFF)
    raw = sel.pack()
    assert len(raw) == 56
    assert raw[0:4] == bytes([10, 2, 0, 0]) and raw[4:16] == bytes(12)
    assert raw[16:20] == bytes([10, 1, 0, 0])
    assert raw[32:34] == b"\x01\xbb" and raw[34:36] == b"\xff\xff"  # __be16
    assert struct.unpack_from("=H", raw, 40)[0] == socket.AF_INET
    assert raw[42] == 24 and raw[43] == 16 and raw[44] == 6
    assert u.XfrmSelector.unpack(raw) == sel


def test_usersa_info_roundtrip_and_layout():
    info = u.UserSaInfo(daddr=ipaddress.ip_address("192.0.2.2"),
                        saddr=ipaddress.ip_address("192.0.2.1"), spi=0x1001, reqid=7,
                        mode=u.XFRM_MODE_TUNNEL, lft=u.LifetimeCfg(1000, 2000), replay_window=32,
                        flags=u.XFRM_STATE_ESN)
    raw = info.pack()
    assert len(raw) == 224
    assert raw[56:60] == bytes([192, 0, 2, 2])  # id.daddr
    assert raw[72:76] == b"\x00\x00\x10\x01"  # id.spi, network order
    assert raw[76] == 50  # id.proto = IPPROTO_ESP
    assert raw[80:84] == bytes([192, 0, 2, 1])  # saddr
    assert struct.unpack_from("=QQ", raw, 96) == (1000, 2000)
    assert struct.unpack_from("=I", raw, 208)[0] == 7
    assert struct.unpack_from("=H", raw, 212)[0] == socket.AF_INET
    assert raw[214:217] == bytes([1, 32, 128])
    back = u.UserSaInfo.unpack(raw)
    assert (back.daddr, back.saddr, back.spi, back.reqid, back.flags) == \
        (info.daddr, info.saddr, 0x1001, 7, 128)


def test_policy_and_tmpl_layout():
    v6 = ipaddress.ip_address
    sel = u.XfrmSelector(family=socket.AF_INET6, daddr=v6("fd00::"), saddr=v6("fd01::"),
                         prefixlen_d=64, prefixlen_s=64)
    raw = u.UserPolicyInfo(sel, u.XFRM_POLICY_FWD, priority=1234, action=u.XFRM_POLICY_BLOCK
                           ).pack()
    assert len(raw) == 168
    assert struct.unpack_from("=I", raw, 152)[0] == 1234
    assert raw[160] == 2 and raw[161] == 1
    assert u.UserPolicyInfo.unpack(raw).sel == sel
    t = u.UserTmpl(0x7E1C0001, u.XFRM_MODE_TUNNEL, socket.AF_INET6, daddr=v6("fd00:99::2"),
                   saddr=v6("fd00:99::1")).pack()
    assert len(t) == 64
    assert t[0:16] == v6("fd00:99::2").packed and t[20] == 50
    assert struct.unpack_from("=H", t, 24)[0] == socket.AF_INET6
    assert t[28:44] == v6("fd00:99::1").packed
    assert struct.unpack_from("=I", t, 44)[0] == 0x7E1C0001 and t[48] == 1
    assert struct.unpack_from("=III", t, 52) == (0xFFFFFFFF,) * 3
    assert u.UserTmpl.unpack(t).reqid == 0x7E1C0001


def test_algorithms_encap_replay_mark():
    aead = u.pack_algo_aead("rfc4106(gcm(aes))", bytes(36), 128)
    assert len(aead) == 72 + 36
    assert aead[:17] == b"rfc4106(gcm(aes))" and aead[17:64] == bytes(47)
    assert struct.unpack_from("=II", aead, 64) == (288, 128)  # key bits include the salt
    auth = u.pack_algo_auth("hmac(sha256)", bytes(32), 128)
    assert struct.unpack_from("=II", auth, 64) == (256, 128) and len(auth) == 72 + 32
    crypt = u.pack_algo("cbc(aes)", bytes(16))
    assert struct.unpack_from("=I", crypt, 64)[0] == 128 and len(crypt) == 68 + 16
    enc = u.pack_encap(4500, 4501)
    assert enc[:2] == struct.pack("=H", 2) and enc[2:4] == b"\x11\x94" and enc[4:6] == b"\x11\x95"
    assert len(enc) == 24
    esn = u.pack_replay_esn(1024)
    assert struct.unpack_from("=6I", esn) == (32, 0, 0, 0, 0, 1024) and len(esn) == 24 + 128
    assert u.pack_mark(0x10, 0xFF) == struct.pack("=II", 0x10, 0xFF)


def test_nlattr_padding_and_parse():
    a = u.nlattr(5, b"abcde")
    assert a == struct.pack("=HH", 9, 5) + b"abcde" + b"\0\0\0"
    b = u.nlattr(31, struct.pack("=I", 42))
    assert u.parse_attrs(a + b) == {5: b"abcde", 31: struct.pack("=I", 42)}
    assert u.parse_attrs(a[:6]) == {}  # truncated: ignored, never an exception


def test_nlmsg_and_error_with_extack():
    req = u.nlmsg(u.XFRM_MSG_NEWSA, u.NLM_F_REQUEST | u.NLM_F_ACK, 9, bytes(224))
    assert struct.unpack_from("=IHHII", req) == (240, 16, 5, 9, 0)
    # a capped NLMSG_ERROR with an extended ack message, as kernels >= 4.12 send
    body = (struct.pack("=i", -93) + req[:16]
            + u.nlattr(u.NLMSGERR_ATTR_MSG, b"Requested type not found\0"))
    msg = u.nlmsg(u.NLMSG_ERROR, u.NLM_F_CAPPED | u.NLM_F_ACK_TLVS, 9, body)
    ((t, flags, seq, b),) = u.split_messages(msg)
    assert (t, seq) == (u.NLMSG_ERROR, 9)
    assert u.parse_error(b, flags) == (93, "Requested type not found")
    # an uncapped one echoes the whole request before the attributes
    body2 = struct.pack("=i", -22) + req + u.nlattr(u.NLMSGERR_ATTR_MSG, b"bad\0")
    assert u.parse_error(body2, u.NLM_F_ACK_TLVS) == (22, "bad")
    assert u.parse_error(struct.pack("=i", 0) + req[:16], 0) == (0, "")
