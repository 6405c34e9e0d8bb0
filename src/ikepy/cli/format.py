"""Human output for list-sas, list-conns and stats, in the spirit of swanctl."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def duration(seconds: Any) -> str:
    """12s, 59m, 3h59m, 2d4h (the two largest units, zero parts left out)."""
    try:
        s = max(0, int(seconds))
    except (TypeError, ValueError):
        return str(seconds)
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m{secs}s" if secs and minutes < 10 else f"{minutes}m"
    return f"{secs}s"


def _when(parts: list[str], label: str, value: Any, ago: bool = False) -> None:
    if value is None:
        return
    parts.append(f"{label} {duration(value)} ago" if ago else f"{label} in {duration(value)}")


def _endpoint(label: str, ident: Any, addr: Any, port: Any, nat: bool) -> str:
    text = f"  {label:<6} '{ident if ident is not None else '%any'}' @ {addr}[{port}]"
    return text + (" (behind NAT)" if nat else "")


def format_child(child: Mapping[str, Any]) -> list[str]:
    mode = str(child.get("mode") or "tunnel").upper()
    if child.get("encap"):
        mode += "-in-UDP"
    protocol = str(child.get("protocol") or "esp").upper()
    head = f"    {child.get('name', '?')}: #{child.get('uniqueid', '?')}, reqid {child.get('reqid', '?')}, "
    head += f"{child.get('state', '?')}, {mode}, {protocol}:{child.get('algorithms', '?')}"
    lines = [head]
    times: list[str] = []
    _when(times, "installed", child.get("installed_s"), ago=True)
    _when(times, "rekeying", child.get("rekey_in_s"))
    _when(times, "expires", child.get("life_in_s"))
    if times:
        lines.append("      " + ", ".join(times))
    for direction, spi, nbytes, npackets in (
        ("in ", child.get("spi_in"), child.get("bytes_in"), child.get("packets_in")),
        ("out", child.get("spi_out"), child.get("bytes_out"), child.get("packets_out")),
    ):
        lines.append(f"      {direction} {spi}, {nbytes or 0:6} bytes, {npackets or 0:5} packets")
    lines.append("      local  " + " ".join(str(t) for t in child.get("local_ts") or ()))
    lines.append("      remote " + " ".join(str(t) for t in child.get("remote_ts") or ()))
    return lines


def format_sa(sa: Mapping[str, Any]) -> list[str]:
    initiator = sa.get("role") == "initiator"
    spis = f"{sa.get('spi_i', '?')}_i{'*' if initiator else ''} {sa.get('spi_r', '?')}_r{'' if initiator else '*'}"
    version = f"IKEv{sa.get('version', 2)}"
    lines = [f"{sa.get('name', '?')}: #{sa.get('uniqueid', '?')}, {sa.get('state', '?')}, {version}, {spis}"]
    lines.append(_endpoint("local", sa.get("local_id"), sa.get("local_addr"), sa.get("local_port"),
                           bool(sa.get("nat_local"))))
    lines.append(_endpoint("remote", sa.get("remote_id"), sa.get("remote_addr"), sa.get("remote_port"),
                           bool(sa.get("nat_remote"))))
    if sa.get("algorithms"):
        lines.append(f"  {sa['algorithms']}")
    times: list[str] = []
    _when(times, "established", sa.get("established_s"), ago=True)
    _when(times, "rekeying", sa.get("rekey_in_s"))
    if times:
        lines.append("  " + ", ".join(times))
    for child in sa.get("children") or ():
        lines.extend(format_child(child))
    return lines


def format_sas(sas: Iterable[Mapping[str, Any]]) -> str:
    lines: list[str] = []
    for sa in sas:
        lines.extend(format_sa(sa))
    return "\n".join(lines) if lines else "no IKE SAs"


def _scalar(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_scalar(v) for v in value) if value else "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "-" if value is None else str(value)


def _conn_children(children: Any) -> list[tuple[str, Mapping[str, Any]]]:
    if isinstance(children, Mapping):
        return [(str(k), v if isinstance(v, Mapping) else {}) for k, v in children.items()]
    out: list[tuple[str, Mapping[str, Any]]] = []
    for c in children or ():
        if isinstance(c, Mapping):
            out.append((str(c.get("name", "?")), c))
        else:
            out.append((str(c), {}))
    return out


def format_conns(conns: Iterable[Mapping[str, Any]]) -> str:
    """name: IKEv2, addresses; then the other keys; children indented (schema kept open)."""
    lines: list[str] = []
    for conn in conns:
        head = f"{conn.get('name', '?')}: IKEv{conn.get('version') or 2}"
        if "local_addrs" in conn or "remote_addrs" in conn:
            head += f", {_scalar(conn.get('local_addrs', '%any'))}...{_scalar(conn.get('remote_addrs', '%any'))}"
        lines.append(head)
        for key, value in conn.items():
            if key in ("name", "version", "local_addrs", "remote_addrs", "children"):
                continue
            lines.append(f"  {key}: {_scalar(value)}" if not isinstance(value, Mapping)
                         else f"  {key}: " + ", ".join(f"{k}={_scalar(v)}" for k, v in value.items()))
        for name, child in _conn_children(conn.get("children")):
            extra = f": {str(child['mode']).upper()}" if child.get("mode") else ""
            lines.append(f"  {name}{extra}")
            for key, value in child.items():
                if key in ("name", "mode"):
                    continue
                lines.append(f"    {key}: {_scalar(value)}")
    return "\n".join(lines) if lines else "no connections loaded"


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def format_stats(stats: Mapping[str, Any]) -> str:
    flat = flatten(stats)
    return "\n".join(f"{k}: {flat[k]}" for k in sorted(flat)) if flat else "no counters"
