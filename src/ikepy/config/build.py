"""Settings tree -> validated :class:`~ikepy.config.model.Config`.

Key names, value syntaxes and defaults follow strongSwan 5.9's swanctl.conf
(see swanctl.conf(5)). Every problem is collected with its file, line and
key; the caller raises once if any error was found.
"""

from __future__ import annotations

import ipaddress
import re
import warnings
from collections.abc import Callable
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeVar

from . import psk_strength
from .errors import ConfigProblem
from .model import AuthRound, Child, Config, Connection, IkeSecret, match_id
from .tree import Section, Setting
from .values import (
    parse_bool,
    parse_duration,
    parse_int,
    parse_secret,
    parse_size,
    parse_traffic_selectors,
    split_list,
)

if TYPE_CHECKING:  # pragma: no cover
    from ikepy.crypto.proposals import ProposalSpec

T = TypeVar("T")

_FALSY = frozenset({"", "no", "false", "disabled", "0"})

# strongSwan's action names (vici parse_action); canonical spelling first
_START_ACTIONS = {"none": "none", "clear": "none", "trap": "trap", "route": "trap",
                  "start": "start", "restart": "start"}
_DPD_ACTIONS = {"clear": "clear", "none": "clear", "trap": "trap", "hold": "trap",
                "route": "trap", "restart": "restart", "start": "restart"}
_SECRET_TYPES_UNSUPPORTED = ("eap", "xauth", "ntlm", "private", "rsa", "ecdsa", "pkcs8",
                             "pkcs12", "token", "ppk")


class Problems:
    """Errors and warnings collected while building."""

    def __init__(self) -> None:
        self.errors: list[ConfigProblem] = []
        self.warnings: list[ConfigProblem] = []

    def error(self, file: str, line: int, path: str, message: str) -> None:
        self.errors.append(ConfigProblem(file, line, path, message))

    def warn(self, file: str, line: int, path: str, message: str) -> None:
        self.warnings.append(ConfigProblem(file, line, path, message))


class _Reader:
    """Typed access to one section's settings; remembers which keys were read."""

    def __init__(self, p: Problems, sec: Section) -> None:
        self.p = p
        self.sec = sec
        self.used: set[str] = set()

    def setting(self, key: str) -> Setting | None:
        self.used.add(key)
        return self.sec.settings.get(key)

    def error(self, s: Setting, message: str) -> None:
        self.p.error(s.file, s.line, self.sec.key_path(s.key), message)

    def warn(self, s: Setting, message: str) -> None:
        self.p.warn(s.file, s.line, self.sec.key_path(s.key), message)

    def get(self, key: str, parse: Callable[[str], T], default: T) -> T:
        s = self.setting(key)
        if s is None:
            return default
        try:
            return parse(s.value)
        except ValueError as e:
            self.error(s, str(e))
            return default

    def text(self, key: str, default: str) -> str:
        return self.get(key, lambda v: v, default)

    def opt_text(self, key: str) -> str | None:
        s = self.setting(key)
        return s.value if s is not None and s.value != "" else None

    def choice(self, key: str, allowed: dict[str, str] | tuple[str, ...], default: str) -> str:
        table = allowed if isinstance(allowed, dict) else {a: a for a in allowed}

        def parse(v: str) -> str:
            got = table.get(v.strip().lower())
            if got is None:
                names = ", ".join(dict.fromkeys(table))
                raise ValueError(f"'{v}' is not allowed (allowed: {names})")
            return got

        return self.get(key, parse, default)

    def unsupported(self, key: str, message: str, *, error: bool, harmless: frozenset[str] = _FALSY) -> None:
        """A strongSwan key we do not implement yet: complain unless its value is harmless."""
        s = self.setting(key)
        if s is None or s.value.strip().lower() in harmless:
            return
        (self.error if error else self.warn)(s, message)

    def finish(self) -> None:
        """Warn about every key nobody read."""
        for key, s in self.sec.settings.items():
            if key not in self.used:
                self.warn(s, "unknown key, ignored")


def _unknown_section(p: Problems, sec: Section) -> None:
    p.warn(sec.file, sec.line, sec.path, "unknown section, ignored")


def _if_id(v: str) -> int | str:
    t = v.strip().lower()
    if t in ("%unique", "%unique-dir"):
        return t
    return parse_int(v, 0, 2**32 - 1)


_NO_IF_ID: int | str = 0

_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")


def _addrs(v: str) -> tuple[str, ...]:
    out = []
    for a in split_list(v):
        if a.lower() in ("%any", "%any4", "%any6"):
            out.append(a.lower())
            continue
        try:
            if "-" in a and ":" not in a.split("-")[0] and a.count(".") >= 6:
                lo, hi = (ipaddress.ip_address(x) for x in a.split("-", 1))
                out.append(f"{lo}-{hi}")
            elif "/" in a:
                out.append(str(ipaddress.ip_network(a, strict=False)))
            else:
                out.append(str(ipaddress.ip_address(a)))
            continue
        except ValueError:
            pass
        if _HOST.match(a):
            out.append(a)
            continue
        raise ValueError(f"'{a}' is not an address (allowed: IP addresses, subnets, ranges, "
                         "host names, %any, %any4, %any6; comma-separated)")
    if not out:
        return ("%any",)
    return tuple(out)


def _proposals(r: _Reader, key: str, protocol_name: str) -> tuple[tuple[ProposalSpec, ...], str]:
    from ikepy.crypto.proposals import parse_proposals
    from ikepy.wire.enums import ProtocolId

    s = r.setting(key)
    text = "default" if s is None or not s.value.strip() else s.value.strip()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            specs = parse_proposals(text, ProtocolId[protocol_name])
        except ValueError as e:
            if s is not None:
                r.error(s, str(e))
            else:  # the built-in default failed: a bug, but say where
                r.p.error(r.sec.file, r.sec.line, r.sec.key_path(key), f"default: {e}")
            return (), text
    for w in caught:
        if s is not None:
            r.warn(s, str(w.message))
    return tuple(specs), text


# -- authentication rounds -------------------------------------------------------

def _auth_round(p: Problems, sec: Section, local: bool) -> AuthRound:
    r = _Reader(p, sec)
    auth_s = r.setting("auth")
    auth = "pubkey" if auth_s is None else auth_s.value.strip().lower()
    default_note = " (auth = pubkey is strongSwan's default; set auth = psk)" if auth_s is None else ""
    where = auth_s or Setting("auth", "", sec.file, sec.line)
    if auth == "psk":
        pass
    elif auth.startswith(("pubkey", "rsa", "ecdsa", "ike:")):
        p.error(where.file, where.line, sec.key_path("auth"),
                f"certificate authentication is not supported yet (allowed: psk){default_note}")
    elif auth.startswith("eap"):
        p.error(where.file, where.line, sec.key_path("auth"),
                "EAP authentication is not supported yet (allowed: psk)")
    elif auth.startswith("xauth"):
        p.error(where.file, where.line, sec.key_path("auth"),
                "XAuth is IKEv1 only and not supported yet (allowed: psk)")
    else:
        p.error(where.file, where.line, sec.key_path("auth"),
                f"unknown authentication '{auth}' (allowed: psk; not supported yet: "
                "pubkey, rsa, ecdsa, eap-*, xauth)")
    ident = r.opt_text("id")
    if ident is None and not local:
        ident = "%any"
    rnd = r.get("round", lambda v: parse_int(v, 0, 255), 0)
    certs = tuple(split_list(r.text("certs", "")))
    cacerts = tuple(split_list(r.text("cacerts", ""))) if not local else ()
    for key in ("certs", "cacerts", "pubkeys"):
        r.unsupported(key, "certificates are not supported yet", error=True)
    for key in ("ca_id", "cert_policy", "groups", "revocation"):
        r.unsupported(key, "certificate constraints are not supported yet", error=True,
                      harmless=frozenset({"", "relaxed"}))
    eap_id = r.opt_text("eap_id")
    for key in ("aaa_id", "xauth_id"):
        r.unsupported(key, "EAP/XAuth identities are not supported yet; ignored", error=False)
    for name, sub in sec.sections.items():
        if name.startswith(("cert", "cacert")):
            p.error(sub.file, sub.line, sub.path, "certificates (and smartcards) are not supported yet")
        else:
            _unknown_section(p, sub)
    r.finish()
    return AuthRound(name=sec.name, auth=auth, id=ident, round=rnd, certs=certs,
                     cacerts=cacerts, eap_id=eap_id, file=sec.file, line=sec.line)


def _auth_rounds(p: Problems, conn: Section, prefix: str) -> tuple[AuthRound, ...]:
    rounds = [_auth_round(p, s, prefix == "local") for n, s in conn.sections.items()
              if n.startswith(prefix)]
    # strongSwan orders rounds by their 'round' key, then in file order
    rounds.sort(key=lambda a: a.round)
    if not rounds:
        p.error(conn.file, conn.line, f"{conn.path}.{prefix}",
                f"no {prefix} authentication round: strongSwan's default (auth = pubkey) "
                f"is not supported yet (add a {prefix} {{ auth = psk }} section)")
    elif len(rounds) > 1:
        extra = rounds[1]
        p.error(extra.file, extra.line, f"{conn.path}.{extra.name}",
                "multiple authentication rounds (RFC 4739) are not supported yet")
    return tuple(rounds)


# -- children --------------------------------------------------------------------

def _child(p: Problems, sec: Section) -> Child:
    r = _Reader(p, sec)
    esp, esp_text = _proposals(r, "esp_proposals", "ESP")
    r.unsupported("ah_proposals", "AH is not supported yet (use esp_proposals)", error=True)
    local_ts = r.get("local_ts", parse_traffic_selectors, None)
    remote_ts = r.get("remote_ts", parse_traffic_selectors, None)
    dynamic = parse_traffic_selectors("dynamic")
    mode = r.choice("mode", {"tunnel": "tunnel", "transport": "transport", "pass": "pass",
                             "drop": "drop", "transport_proxy": "transport_proxy",
                             "beet": "beet", "iptfs": "iptfs"}, "tunnel")
    if mode in ("transport_proxy", "beet", "iptfs"):
        s = sec.settings["mode"]
        r.error(s, f"mode {mode} is not supported yet (allowed: tunnel, transport, pass, drop)")
        mode = "tunnel"

    def start_action(v: str) -> str:
        parts = [q.strip().lower() for q in v.split("|") if q.strip()]
        got = {_START_ACTIONS.get(q) for q in parts}
        if not parts or None in got:
            raise ValueError(f"'{v}' is not allowed (allowed: none, trap, start, trap|start)")
        if len(got) > 1:
            got.discard("none")
        return "|".join(a for a in ("trap", "start", "none") if a in got)

    start = r.get("start_action", start_action, "none")
    dpd_action = r.choice("dpd_action", _DPD_ACTIONS, "clear")
    close_action = r.choice("close_action", _START_ACTIONS, "none")

    rekey_time = r.get("rekey_time", parse_duration, 3600.0)
    life_time = r.get("life_time", parse_duration, rekey_time * 110 / 100)
    rand_time = r.get("rand_time", parse_duration, life_time - min(life_time, rekey_time))
    rekey_bytes = r.get("rekey_bytes", parse_size, 0)
    life_bytes = r.get("life_bytes", parse_size, rekey_bytes * 110 // 100)
    rand_bytes = r.get("rand_bytes", parse_size, life_bytes - min(life_bytes, rekey_bytes))
    rekey_packets = r.get("rekey_packets", parse_size, 0)
    life_packets = r.get("life_packets", parse_size, rekey_packets * 110 // 100)
    rand_packets = r.get("rand_packets", parse_size,
                         life_packets - min(life_packets, rekey_packets))
    for what, rekey, life in (("time", rekey_time, life_time), ("bytes", rekey_bytes, life_bytes),
                              ("packets", rekey_packets, life_packets)):
        life_s = sec.settings.get(f"life_{what}")
        if life_s is not None and life and rekey > life:
            r.error(life_s, f"life_{what} ({life_s.value}) must not be less than rekey_{what}")

    child = Child(
        name=sec.name,
        local_ts=local_ts or dynamic,
        remote_ts=remote_ts or dynamic,
        esp_proposals=esp,
        esp_proposals_text=esp_text,
        mode=mode,
        start_action=start,
        dpd_action=dpd_action,
        close_action=close_action,
        rekey_time=rekey_time,
        life_time=life_time,
        rand_time=rand_time,
        rekey_bytes=rekey_bytes,
        life_bytes=life_bytes,
        rand_bytes=rand_bytes,
        rekey_packets=rekey_packets,
        life_packets=life_packets,
        rand_packets=rand_packets,
        inactivity=r.get("inactivity", parse_duration, 0.0),
        updown=r.opt_text("updown"),
        hostaccess=r.get("hostaccess", parse_bool, False),
        policies=r.get("policies", parse_bool, True),
        replay_window=r.get("replay_window", lambda v: parse_int(v, 0, 2**32 - 1), 32),
        copy_df=r.get("copy_df", parse_bool, True),
        copy_ecn=r.get("copy_ecn", parse_bool, True),
        copy_dscp=r.choice("copy_dscp", ("no", "in", "out", "yes"), "out"),
        hw_offload=r.choice("hw_offload", {"no": "no", "yes": "crypto", "crypto": "crypto",
                                           "packet": "packet", "auto": "auto"}, "no"),
        sha256_96=r.get("sha256_96", parse_bool, False),
        if_id_in=r.get("if_id_in", _if_id, _NO_IF_ID),
        if_id_out=r.get("if_id_out", _if_id, _NO_IF_ID),
        reqid=r.get("reqid", lambda v: parse_int(v, 0, 2**32 - 1), 0),
        priority=r.get("priority", lambda v: parse_int(v, 0, 2**32 - 1), 0),
        file=sec.file,
        line=sec.line,
    )
    r.unsupported("ipcomp", "IPComp is not supported yet", error=True)
    r.unsupported("policies_fwd_out", "forward out policies are not supported yet; ignored",
                  error=False)
    for key in ("mark_in", "mark_in_sa", "mark_out", "set_mark_in", "set_mark_out",
                "interface", "tfc_padding", "per_cpu_sas"):
        r.unsupported(key, "not supported yet; ignored", error=False)
    for key in ("label", "label_mode"):
        r.unsupported(key, "security labels are not supported yet", error=True)
    for sub in sec.sections.values():
        _unknown_section(p, sub)
    r.finish()
    return child


# -- connections -----------------------------------------------------------------

def _connection(p: Problems, sec: Section) -> Connection:
    r = _Reader(p, sec)
    version = r.get("version", lambda v: parse_int(v, 0, 2), 0)
    if version == 1:
        r.error(sec.settings["version"], "IKEv1 is not supported yet (allowed: 0 = any, 2)")
    proposals, proposals_text = _proposals(r, "proposals", "IKE")
    rekey_time = r.get("rekey_time", parse_duration, 14400.0)
    reauth_time = r.get("reauth_time", parse_duration, 0.0)
    # vici: over_time defaults to 10% of the longer of rekey/reauth time;
    # rand_time to over_time, but at most half the shorter non-zero one
    over_time = r.get("over_time", parse_duration, max(rekey_time, reauth_time) / 10)
    if rekey_time and reauth_time:
        cap = min(rekey_time, reauth_time)
    else:
        cap = max(rekey_time, reauth_time)
    rand_time = r.get("rand_time", parse_duration, min(over_time, cap / 2))
    aggressive = r.get("aggressive", parse_bool, False)
    if aggressive:
        r.warn(sec.settings["aggressive"], "IKEv1 aggressive mode is not supported yet; ignored")
    r.get("pull", parse_bool, True)  # IKEv1 Mode Config push/pull: accepted, ignored
    r.unsupported("vips", "virtual IPs are not supported yet", error=True)
    r.unsupported("pools", "address pools are not supported yet", error=True)
    for key in ("ppk_id", "ppk_required"):
        r.unsupported(key, "postquantum preshared keys (RFC 8784) are not supported yet",
                      error=True)
    for key in ("mediation", "mediated_by", "mediation_peer"):
        r.unsupported(key, "mediation is not supported yet", error=True)
    r.unsupported("dscp", "DSCP marking of IKE packets is not supported yet; ignored",
                  error=False, harmless=frozenset({"", "0", "000000"}))

    local = _auth_rounds(p, sec, "local")
    remote = _auth_rounds(p, sec, "remote")
    children: dict[str, Child] = {}
    for name, sub in sec.sections.items():
        if name == "children":
            for cname, csec in sub.sections.items():
                children[cname] = _child(p, csec)
            for s in sub.settings.values():
                p.warn(s.file, s.line, sub.key_path(s.key), "unknown key, ignored")
        elif not name.startswith(("local", "remote")):
            _unknown_section(p, sub)

    conn = Connection(
        name=sec.name,
        proposals=proposals,
        proposals_text=proposals_text,
        version=version,
        local_addrs=r.get("local_addrs", _addrs, ("%any",)),
        remote_addrs=r.get("remote_addrs", _addrs, ("%any",)),
        local_port=r.get("local_port", lambda v: parse_int(v, 1, 65535), 500),
        remote_port=r.get("remote_port", lambda v: parse_int(v, 1, 65535), 500),
        encap=r.get("encap", parse_bool, False),
        mobike=r.get("mobike", parse_bool, True),
        fragmentation=r.choice("fragmentation", ("yes", "accept", "force", "no"), "yes"),
        childless=r.choice("childless", ("allow", "prefer", "force", "never"), "allow"),
        send_certreq=r.get("send_certreq", parse_bool, True),
        send_cert=r.choice("send_cert", ("always", "never", "ifasked"), "ifasked"),
        aggressive=aggressive,
        dpd_delay=r.get("dpd_delay", parse_duration, 0.0),
        dpd_timeout=r.get("dpd_timeout", parse_duration, 0.0),
        keyingtries=r.get("keyingtries", lambda v: parse_int(v, 0, 2**32 - 1), 1),
        unique=r.choice("unique", ("no", "never", "replace", "keep"), "no"),
        allow_weak_psk=r.get("allow_weak_psk", parse_bool, False),
        rekey_time=rekey_time,
        reauth_time=reauth_time,
        over_time=over_time,
        rand_time=rand_time,
        if_id_in=r.get("if_id_in", _if_id, _NO_IF_ID),
        if_id_out=r.get("if_id_out", _if_id, _NO_IF_ID),
        local=local,
        remote=remote,
        children=MappingProxyType(children),
        file=sec.file,
        line=sec.line,
    )
    r.finish()
    return conn


# -- secrets ---------------------------------------------------------------------

def _secrets(p: Problems, sec: Section) -> tuple[IkeSecret, ...]:
    out = []
    for name, sub in sec.sections.items():
        if name.startswith("ike"):
            r = _Reader(p, sub)
            s = r.setting("secret")
            secret = b""
            if s is None:
                p.error(sub.file, sub.line, sub.key_path("secret"), "missing secret")
            else:
                try:
                    secret = parse_secret(s.value)
                except ValueError as e:
                    r.error(s, str(e))
            ids = tuple(r.setting(k).value for k in list(sub.settings)  # type: ignore[union-attr]
                        if k.startswith("id"))
            for child in sub.sections.values():
                _unknown_section(p, child)
            r.finish()
            binary = s is not None and s.value.startswith(("0x", "0X", "0s"))
            out.append(IkeSecret(ids=ids, secret=secret, name=name, file=sub.file,
                                 line=sub.line, binary=binary))
        elif name.startswith(_SECRET_TYPES_UNSUPPORTED):
            p.warn(sub.file, sub.line, sub.path, "this kind of secret is not supported yet; ignored")
        else:
            _unknown_section(p, sub)
    for s in sec.settings.values():
        p.warn(s.file, s.line, sec.key_path(s.key), "unknown key, ignored")
    return tuple(out)


def _check_psks(p: Problems, conns: dict[str, Connection], secrets: tuple[IkeSecret, ...]) -> None:
    probe = Config(secrets=secrets)
    for conn in conns.values():
        if not conn.local or not conn.remote or conn.local[0].auth != "psk":
            continue
        local_id = conn.local[0].id
        remote_id = conn.remote[0].id
        unknown = local_id is None or remote_id in (None, "%any")
        if unknown and secrets:
            continue
        if not unknown and probe.find_psk(local_id or "", remote_id or "") is not None:
            continue
        p.warn(conn.local[0].file, conn.local[0].line, f"connections.{conn.name}.{conn.local[0].name}",
               f"auth = psk but no secrets.ike section matches ids {local_id or '(local address)'}"
               f" and {remote_id} (the connection will fail until one is added)")


def _check_psk_strength(p: Problems, conns: dict[str, Connection],
                        secrets: tuple[IkeSecret, ...]) -> None:
    """Refuse guessable PSKs unless a connection that uses it opts out (psk_strength.py)."""
    for sec in secrets:
        judged, bits = psk_strength.verdict(sec.secret, sec.binary)
        if judged == "ok":
            continue
        users = [c for c in conns.values() if not sec.ids or any(
            match_id(i, r.id or "") for i in sec.ids for r in (*c.local, *c.remote))]
        opted_out = [c.name for c in users if c.allow_weak_psk]
        key = f"secrets.{sec.name}.secret"
        if judged == "refuse" and not opted_out:
            p.error(sec.file, sec.line, key,
                    f"pre-shared key too weak: about {bits:.0f} bits of entropy, "
                    f"{psk_strength.REFUSE_BITS} needed (an attacker who captures one "
                    "IKE_AUTH can guess it offline); use 20+ random characters or 0x<32 random "
                    "octets>, or set allow_weak_psk = yes in the connection to accept the risk")
        else:
            why = (f"allowed by allow_weak_psk in {', '.join(opted_out)}" if opted_out
                   else f"below the {psk_strength.WARN_BITS} bits recommended")
            p.warn(sec.file, sec.line, key,
                   f"pre-shared key is weak: about {bits:.0f} bits of entropy ({why}); "
                   "prefer certificates or a longer random key")


def build_config(root: Section, source: str, p: Problems) -> Config:
    connections: dict[str, Connection] = {}
    secrets: tuple[IkeSecret, ...] = ()
    for name, sec in root.sections.items():
        if name == "connections":
            for cname, csec in sec.sections.items():
                connections[cname] = _connection(p, csec)
            for s in sec.settings.values():
                p.warn(s.file, s.line, sec.key_path(s.key), "unknown key, ignored")
        elif name == "secrets":
            secrets = _secrets(p, sec)
        elif name in ("pools", "authorities"):
            if sec.sections or sec.settings:
                p.warn(sec.file, sec.line, sec.path, f"{name} are not supported yet; ignored")
        else:
            _unknown_section(p, sec)
    for s in root.settings.values():
        p.warn(s.file, s.line, s.key, "unknown key, ignored")
    _check_psks(p, connections, secrets)
    _check_psk_strength(p, connections, secrets)
    return Config(connections=MappingProxyType(connections), secrets=secrets, source=source)
