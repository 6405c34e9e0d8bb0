"""The control protocol: JSON lines over a Unix stream socket.

One request is one line of JSON::

    {"cmd": "list-sas", "args": {}}

and the daemon answers with one final line::

    {"ok": true, "data": ...}            or    {"ok": false, "error": "words"}

A command may send progress lines before the final reply (``initiate`` does)::

    {"log": "net[1] 1b2c..._i 9f8e..._r: child_up net"}

A connection may carry several requests one after another; the client in
``control.client`` sends one and closes. A request line is at most
``MAX_REQUEST`` octets; a longer, malformed or unknown request gets an error
reply and never stops the server.
"""

from __future__ import annotations

import json
import os
from typing import Any

DEFAULT_SOCKET = "/run/ikepy/ikepy.sock"
SOCKET_ENV = "IKEPY_SOCKET"
MAX_REQUEST = 64 * 1024

COMMANDS = (
    "list-sas",
    "list-conns",
    "initiate",
    "terminate",
    "load",
    "stats",
    "version",
)


class ProtocolError(ValueError):
    """A request line that is not a valid control request (words for an operator)."""


def socket_path(explicit: str | None = None) -> str:
    """The control socket path: ``--socket`` first, then $IKEPY_SOCKET, then the default."""
    if explicit:
        return explicit
    return os.environ.get(SOCKET_ENV) or DEFAULT_SOCKET


def encode(obj: dict[str, Any]) -> bytes:
    """One JSON line (compact, UTF-8, newline terminated)."""
    return json.dumps(obj, separators=(",", ":"), default=str).encode() + b"\n"


def decode_request(line: bytes) -> tuple[str, dict[str, Any]]:
    """Parse and check one request line; raises ProtocolError naming the problem."""
    try:
        obj = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"request is not valid JSON: {exc}") from None
    except RecursionError:
        # e.g. 30000 nested '[' fit in MAX_REQUEST (tests/fuzz/test_fuzz_config_control.py)
        raise ProtocolError("request is nested too deeply") from None
    if not isinstance(obj, dict):
        raise ProtocolError("request must be a JSON object like {\"cmd\": ..., \"args\": {...}}")
    cmd = obj.get("cmd")
    if not isinstance(cmd, str):
        raise ProtocolError("request has no \"cmd\" string")
    if cmd not in COMMANDS:
        raise ProtocolError(f"unknown command {cmd!r}; known commands: {', '.join(COMMANDS)}")
    args = obj.get("args", {})
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise ProtocolError("\"args\" must be a JSON object")
    return cmd, args


def ok(data: Any = None) -> dict[str, Any]:
    return {"ok": True, "data": data}


def error(message: str) -> dict[str, Any]:
    return {"ok": False, "error": message}
