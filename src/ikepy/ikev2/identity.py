"""IKE identities (RFC 7296 3.5) and strongSwan's string forms of them.

strongSwan's rules (identification_create_from_string): an IP address is
ID_IPV4_ADDR / ID_IPV6_ADDR; ``@#hex`` is ID_KEY_ID; ``@name`` is ID_FQDN;
``user@host`` is ID_RFC822_ADDR; anything else is ID_FQDN. ``%any`` matches
every identity.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

from ..wire.enums import IdType

ANY = "%any"


@dataclass(frozen=True, slots=True)
class Identity:
    id_type: int
    data: bytes

    @classmethod
    def from_string(cls, text: str) -> Identity:
        return _from_string(text)

    @classmethod
    def _parse(cls, text: str) -> Identity:
        text = text.strip()
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            pass
        else:
            kind = IdType.ID_IPV4_ADDR if addr.version == 4 else IdType.ID_IPV6_ADDR
            return cls(kind, addr.packed)
        if text.startswith("@#"):
            return cls(IdType.ID_KEY_ID, bytes.fromhex(text[2:]))
        if text.startswith("@@"):
            return cls(IdType.ID_RFC822_ADDR, text[2:].encode())
        if text.startswith("@"):
            return cls(IdType.ID_FQDN, text[1:].encode())
        if "@" in text:
            return cls(IdType.ID_RFC822_ADDR, text.encode())
        return cls(IdType.ID_FQDN, text.encode())

    def __str__(self) -> str:
        if self.id_type in (IdType.ID_IPV4_ADDR, IdType.ID_IPV6_ADDR):
            try:
                return str(ipaddress.ip_address(self.data))
            except ValueError:
                return self.data.hex()
        if self.id_type == IdType.ID_KEY_ID:
            return "@#" + self.data.hex()
        if self.id_type in (IdType.ID_FQDN, IdType.ID_RFC822_ADDR):
            return self.data.decode("utf-8", "replace")
        return f"{self.id_type}:{self.data.hex()}"


@functools.lru_cache(maxsize=1024)
def _from_string(text: str) -> Identity:
    return Identity._parse(text)


def id_matches(configured: str | None, received: Identity) -> bool:
    """Does the peer's identity match what the connection expects?"""
    if configured is None or configured == ANY or configured == "":
        return True
    try:
        want = Identity.from_string(configured)
    except ValueError:
        return False
    if want == received:
        return True
    # strongSwan compares FQDN and RFC822 case-insensitively
    if want.id_type == received.id_type and want.id_type in (IdType.ID_FQDN, IdType.ID_RFC822_ADDR):
        return want.data.lower() == received.data.lower()
    return False
