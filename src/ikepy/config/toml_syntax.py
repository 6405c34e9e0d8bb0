"""Reader for the native TOML form: the same tree and key names as swanctl.conf.

    [connections.net]
    remote_addrs = "10.99.0.1"
    proposals = ["aes256gcm16-prfsha256-x25519"]
    [connections.net.local]
    auth = "psk"
    [connections.net.children.net]
    local_ts = "10.2.0.0/24"
    [secrets.ike-1]
    id-1 = "left"
    secret = "..."

Strings stay as they are, booleans become ``yes``/``no``, numbers their
decimal text, arrays a comma-separated list. tomllib reports no line
numbers, so a light scan of the text finds the line of each key (the line
where it appears within its table) so that problems still name a line.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

from .errors import ConfigProblem
from .tree import Section

_KEY_LINE = re.compile(r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")
_TABLE_LINE = re.compile(r"""^\s*\[\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*\]""")
_KEY_PART = re.compile(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""")


def _split_key(text: str) -> tuple[str, ...]:
    parts = []
    for m in _KEY_PART.finditer(text):
        p = m.group(0)
        parts.append(p[1:-1] if p[0] in "\"'" else p)
    return tuple(parts)


def scan_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map each table and key path to the (first) line it appears on."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    in_multiline: str | None = None
    for n, raw in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if raw.count(in_multiline) % 2 == 1:
                in_multiline = None
            continue
        if raw.lstrip().startswith("#"):
            continue
        m = _TABLE_LINE.match(raw)
        if m and not raw.lstrip().startswith("[["):
            table = _split_key(m.group(1))
            for i in range(1, len(table) + 1):
                lines.setdefault(table[:i], n)
            continue
        m = _KEY_LINE.match(raw)
        if m:
            key = table + _split_key(m.group(1))
            for i in range(len(table) + 1, len(key) + 1):
                lines.setdefault(key[:i], n)
            rest = raw[m.end():]
            for q in ('"""', "'''"):
                if rest.count(q) % 2 == 1:
                    in_multiline = q
    return lines


def _to_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        items = [_to_text(v) if not isinstance(v, list | dict) else None for v in value]
        if any(i is None for i in items):
            return None
        return ",".join(i for i in items if i is not None)
    return None


def read_toml(text: str, file: str, root: Section, problems: list[ConfigProblem]) -> None:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        problems.append(ConfigProblem(file, int(m.group(1)) if m else 0, "", f"invalid TOML: {e}"))
        return
    lines = scan_lines(text)

    def fill(section: Section, table: dict[str, Any], keys: tuple[str, ...]) -> None:
        for key, value in table.items():
            path = keys + (key,)
            line = lines.get(path) or lines.get(keys) or 0
            if isinstance(value, dict):
                sub = section.subsection(key, file, line)
                fill(sub, value, path)
                continue
            as_text = _to_text(value)
            if as_text is None:
                problems.append(ConfigProblem(
                    file, line, section.key_path(key),
                    f"unsupported TOML value {value!r} (allowed: a string, integer, "
                    "boolean or an array of those)"))
                continue
            section.put(key, as_text, file, line)

    fill(root, data, ())
