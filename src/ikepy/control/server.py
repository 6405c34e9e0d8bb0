"""The control socket server (asyncio).

``ControlServer(path, handler)`` listens on a Unix stream socket and calls
``await handler(cmd, args, emit)`` for each request, where ``emit(text)``
sends a progress line ``{"log": text}`` to that client. The handler returns
the reply's ``data`` or raises ``CommandError`` (its text becomes the
``error``). Any other exception is logged and answered as an internal error:
one bad request never stops the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from typing import Any

from ikepy.control.protocol import MAX_REQUEST, ProtocolError, decode_request, encode, error, ok

log = logging.getLogger("ikepy.control")

Emit = Callable[[str], None]
Handler = Callable[[str, dict[str, Any], Emit], Awaitable[Any]]


class CommandError(Exception):
    """A command that failed; str() is the reply's error, in words for an operator."""


class ControlSocketError(OSError):
    """The control socket cannot be created (in use, no permission, ...)."""


class ControlServer:
    def __init__(self, path: str, handler: Handler) -> None:
        self.path = path
        self.handler = handler
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        directory = os.path.dirname(self.path) or "."
        if not os.path.isdir(directory):
            try:
                os.makedirs(directory, mode=0o700, exist_ok=True)
            except OSError as exc:
                raise ControlSocketError(
                    f"cannot create the control socket directory {directory}: {exc.strerror}"
                ) from None
        self._remove_stale()
        old_umask = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=self.path, limit=MAX_REQUEST
            )
        except OSError as exc:
            raise ControlSocketError(
                f"cannot listen on the control socket {self.path}: {exc.strerror}"
            ) from None
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        log.info("control socket listening on %s", self.path)

    def _remove_stale(self) -> None:
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise ControlSocketError(f"{self.path} exists and is not a socket; remove it or pick another --socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.settimeout(0.5)
            probe.connect(self.path)
        except OSError:
            os.unlink(self.path)  # nobody listens: a leftover from a daemon that died
            return
        finally:
            probe.close()
        raise ControlSocketError(
            f"another ikepy daemon is already listening on {self.path}; stop it or pick another --socket"
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._clients):
                task.cancel()
            for task in list(self._clients):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        try:
            while True:
                try:
                    line = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError as exc:
                    if exc.partial.strip():
                        await self._reply(writer, error("request must end with a newline"))
                    return
                except asyncio.LimitOverrunError:
                    await self._reply(writer, error(f"request longer than {MAX_REQUEST} octets"))
                    return
                if not line.strip():
                    continue
                await self._request(line, writer)
        except (ConnectionError, BrokenPipeError):
            pass
        finally:
            if task is not None:
                self._clients.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _request(self, line: bytes, writer: asyncio.StreamWriter) -> None:
        try:
            cmd, args = decode_request(line)
        except ProtocolError as exc:
            await self._reply(writer, error(str(exc)))
            return

        def emit(text: str) -> None:
            if not writer.is_closing():
                writer.write(encode({"log": text}))

        try:
            data = await self.handler(cmd, args, emit)
            reply = ok(data)
        except CommandError as exc:
            reply = error(str(exc))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug in one command must not stop the server
            log.exception("control command %s failed", cmd)
            reply = error(f"internal error in {cmd}: {exc.__class__.__name__}: {exc}")
        await self._reply(writer, reply)

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, reply: dict[str, Any]) -> None:
        writer.write(encode(reply))
        await writer.drain()
