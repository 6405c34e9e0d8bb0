"""What ``ikepy list-sas`` and ``list-conns`` show: JSON-ready views of the
engine's SAs and of the configuration (schema in docs/contracts.md)."""

from __future__ import annotations

from typing import Any

from ..crypto.proposals import describe
from . import ts as tsmod
from .algorithms import algorithms_str
from .child_sa import ChildSa
from .ike_sa import IkeSa


def _until(when: float | None, now: float) -> int | None:
    return int(when - now) if when is not None else None


def ike_sa_view(sa: IkeSa, backend: Any, now: float) -> dict[str, Any]:
    return {
        "name": sa.name, "uniqueid": sa.uniqueid, "state": sa.state, "version": 2,
        "role": "initiator" if sa.initiator else "responder",
        "local_addr": sa.local[0], "local_port": sa.local[1],
        "remote_addr": sa.remote[0], "remote_port": sa.remote[1],
        "local_id": str(sa.local_id) if sa.local_id else None,
        "remote_id": str(sa.remote_id) if sa.remote_id else None,
        "spi_i": sa.spi_i.hex(), "spi_r": sa.spi_r.hex(),
        "algorithms": algorithms_str(sa.selected) if sa.selected else None,
        "nat_local": sa.nat_local, "nat_remote": sa.nat_remote,
        "established_s": int(now - sa.established_at) if sa.established_at else None,
        "rekey_in_s": _until(sa.rekey_at, now),
        "children": [child_view(c, backend, now) for c in sa.children],
    }


def child_view(c: ChildSa, backend: Any, now: float) -> dict[str, Any]:
    try:
        cnt = backend.counters(c.reqid)
        counters = {"bytes_in": cnt.bytes_in, "packets_in": cnt.packets_in,
                    "bytes_out": cnt.bytes_out, "packets_out": cnt.packets_out}
    except KeyError:
        counters = {"bytes_in": 0, "packets_in": 0, "bytes_out": 0, "packets_out": 0}
    return {
        "name": c.name, "uniqueid": c.uniqueid, "reqid": c.reqid, "state": c.state,
        "mode": c.mode.upper(), "protocol": "ESP", "encap": c.encap,
        "spi_in": f"{c.spi_in:08x}", "spi_out": f"{c.spi_out:08x}",
        "algorithms": algorithms_str(c.selected, esp=True) if c.selected else None,
        "local_ts": [tsmod.ts_str(t) for t in c.local_ts],
        "remote_ts": [tsmod.ts_str(t) for t in c.remote_ts],
        **counters,
        "installed_s": int(now - c.installed_at),
        "rekey_in_s": _until(c.rekey_at, now),
        "life_in_s": _until(c.expire_at, now),
    }


def conn_view(conn: Any) -> dict[str, Any]:
    return {
        "name": conn.name, "version": conn.version,
        "local_addrs": list(conn.local_addrs), "remote_addrs": list(conn.remote_addrs),
        "proposals": [describe(p) for p in conn.proposals],
        "local": [{"auth": r.auth, "id": r.id} for r in conn.local],
        "remote": [{"auth": r.auth, "id": r.id} for r in conn.remote],
        "children": [{
            "name": ch.name, "mode": ch.mode, "start_action": ch.start_action,
            "esp_proposals": [describe(p) for p in ch.esp_proposals],
            "local_ts": [t.text for t in ch.local_ts],
            "remote_ts": [t.text for t in ch.remote_ts],
        } for ch in conn.children.values()],
    }
