"""Control protocol round trips over a real Unix socket, and malformed requests."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
from pathlib import Path

import pytest

from ikepy.control.client import ControlClient, ControlError, DaemonUnreachable
from ikepy.control.protocol import MAX_REQUEST, socket_path
from ikepy.control.server import CommandError, ControlServer, ControlSocketError


async def handler(cmd, args, emit):
    if cmd == "list-sas":
        return [{"name": "net", "uniqueid": 1}]
    if cmd == "initiate":
        emit("net[1]: IKE SA up")
        await asyncio.sleep(0.01)
        emit("net[1]: child up")
        return {"child": args.get("child")}
    if cmd == "terminate":
        raise CommandError("no IKE SA named 'x'")
    if cmd == "stats":
        raise RuntimeError("a bug")
    return {"cmd": cmd, "args": args}


def raw(path: str, payload: bytes) -> list[dict]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect(path)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    buf = b""
    while chunk := s.recv(65536):
        buf += chunk
    s.close()
    return [json.loads(line) for line in buf.splitlines() if line.strip()]


def serve(tmp_path: Path, body) -> None:
    path = str(tmp_path / "run" / "ikepy.sock")

    async def go():
        server = ControlServer(path, handler)
        await server.start()
        try:
            await asyncio.to_thread(body, path)
        finally:
            await server.close()
        assert not os.path.exists(path)

    asyncio.run(go())


def test_round_trip_and_permissions(tmp_path):
    def body(path):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
        client = ControlClient(path)
        assert client.call("list-sas") == [{"name": "net", "uniqueid": 1}]
        assert client.call("version", {"a": 1}) == {"cmd": "version", "args": {"a": 1}}

    serve(tmp_path, body)


def test_initiate_streams_progress_then_reply(tmp_path):
    def body(path):
        lines: list[str] = []
        data = ControlClient(path).call("initiate", {"child": "net"}, on_log=lines.append)
        assert data == {"child": "net"}
        assert lines == ["net[1]: IKE SA up", "net[1]: child up"]

    serve(tmp_path, body)


def test_command_errors_and_internal_errors_are_replies(tmp_path):
    def body(path):
        client = ControlClient(path)
        with pytest.raises(ControlError, match="no IKE SA named 'x'"):
            client.call("terminate", {"ike": "x"})
        with pytest.raises(ControlError, match="internal error in stats: RuntimeError: a bug"):
            client.call("stats")
        assert client.call("list-sas")  # still serving

    serve(tmp_path, body)


@pytest.mark.parametrize(
    "payload, words",
    [
        (b"not json\n", "not valid JSON"),
        (b"[1, 2]\n", "must be a JSON object"),
        (b'{"args": {}}\n', 'no "cmd"'),
        (b'{"cmd": "reboot"}\n', "unknown command 'reboot'"),
        (b'{"cmd": "list-sas", "args": [1]}\n', '"args" must be a JSON object'),
        (b"\xff\xfe\n", "not valid JSON"),
        (b'{"cmd": "list-sas"}', "must end with a newline"),
    ],
)
def test_malformed_requests_get_error_replies(tmp_path, payload, words):
    def body(path):
        replies = raw(path, payload)
        assert replies[-1]["ok"] is False
        assert words in replies[-1]["error"]
        assert ControlClient(path).call("list-sas")  # the server lives on

    serve(tmp_path, body)


def test_oversized_request_is_refused(tmp_path):
    def body(path):
        big = b'{"cmd": "version", "args": {"x": "' + b"a" * (MAX_REQUEST + 10) + b'"}}\n'
        try:
            replies = raw(path, big)
        except (BrokenPipeError, ConnectionResetError):
            replies = []
        if replies:
            assert replies[-1]["ok"] is False
            assert "longer than 65536" in replies[-1]["error"]
        assert ControlClient(path).call("list-sas")

    serve(tmp_path, body)


def test_several_requests_on_one_connection(tmp_path):
    def body(path):
        replies = raw(path, b'{"cmd":"list-sas"}\n\n{"cmd":"version"}\n')
        assert [r["ok"] for r in replies] == [True, True]

    serve(tmp_path, body)


def test_unreachable_daemon_is_explained(tmp_path):
    path = str(tmp_path / "nothing.sock")
    with pytest.raises(DaemonUnreachable, match="is the daemon running"):
        ControlClient(path).call("list-sas")


def test_stale_socket_is_replaced_and_live_one_refused(tmp_path):
    path = str(tmp_path / "ikepy.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()  # the file stays, nobody listens

    async def go():
        first = ControlServer(path, handler)
        await first.start()
        try:
            with pytest.raises(ControlSocketError, match="already listening"):
                await ControlServer(path, handler).start()
        finally:
            await first.close()

    asyncio.run(go())


def test_socket_path_resolution(monkeypatch):
    monkeypatch.delenv("IKEPY_SOCKET", raising=False)
    assert socket_path() == "/run/ikepy/ikepy.sock"
    monkeypatch.setenv("IKEPY_SOCKET", "/tmp/x.sock")
    assert socket_path() == "/tmp/x.sock"
    assert socket_path("/other.sock") == "/other.sock"
