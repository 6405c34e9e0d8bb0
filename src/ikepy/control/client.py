"""A blocking client for the control socket: one request per connection."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

from ikepy.control.protocol import encode, socket_path

MAX_REPLY = 64 * 1024 * 1024


class ControlError(Exception):
    """The daemon answered {"ok": false}; str() is its error text."""


class DaemonUnreachable(ControlError):
    """No daemon answers on the socket; str() says why and what to do."""


class ControlClient:
    def __init__(self, path: str | None = None, timeout: float | None = 10.0) -> None:
        self.path = socket_path(path)
        self.timeout = timeout

    def call(
        self,
        cmd: str,
        args: dict[str, Any] | None = None,
        on_log: Callable[[str], None] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Send one request and return the reply's data; progress lines go to on_log."""
        sock = self._connect(timeout if timeout is not None else self.timeout)
        try:
            try:
                sock.sendall(encode({"cmd": cmd, "args": args or {}}))
                return self._read_reply(sock, on_log)
            except TimeoutError:
                raise ControlError(f"the daemon at {self.path} did not answer {cmd} in time") from None
            except OSError as exc:
                raise ControlError(f"lost the connection to the daemon at {self.path}: {exc.strerror or exc}") from None
        finally:
            sock.close()

    def _connect(self, timeout: float | None) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(self.path)
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            raise DaemonUnreachable(
                f"cannot reach ikepy at {self.path}: is the daemon running? "
                "(start it with `ikepy daemon --config FILE`)"
            ) from None
        except PermissionError:
            sock.close()
            raise DaemonUnreachable(
                f"cannot reach ikepy at {self.path}: permission denied "
                "(the socket is for root only; try sudo)"
            ) from None
        except OSError as exc:
            sock.close()
            raise DaemonUnreachable(f"cannot reach ikepy at {self.path}: {exc.strerror or exc}") from None
        return sock

    def _read_reply(self, sock: socket.socket, on_log: Callable[[str], None] | None) -> Any:
        buf = b""
        total = 0
        while True:
            while b"\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ControlError(f"the daemon at {self.path} closed the connection without an answer")
                total += len(chunk)
                if total > MAX_REPLY:
                    raise ControlError("the daemon's reply is too large")
                buf += chunk
            line, buf = buf.split(b"\n", 1)
            if not line.strip():
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                raise ControlError("the daemon sent a reply that is not JSON") from None
            if not isinstance(msg, dict):
                raise ControlError("the daemon sent a reply that is not a JSON object")
            if "log" in msg and "ok" not in msg:
                if on_log is not None:
                    on_log(str(msg["log"]))
                continue
            if msg.get("ok") is True:
                return msg.get("data")
            raise ControlError(str(msg.get("error") or "the daemon reported an unspecified error"))


def call(cmd: str, args: dict[str, Any] | None = None, path: str | None = None, **kw: Any) -> Any:
    """Shorthand: ControlClient(path).call(cmd, args, ...)."""
    return ControlClient(path).call(cmd, args, **kw)
