"""The `ikepy` command against a control server with a fake engine, and without a daemon."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Any

import pytest

from ikepy.cli.main import main
from ikepy.control.server import ControlServer
from ikepy.daemon.runtime import Runtime
from ikepy.daemon.service import DaemonCommands

SA = {"name": "net", "uniqueid": 1, "state": "ESTABLISHED", "version": 2, "role": "responder",
      "local_addr": "10.99.0.2", "local_port": 500, "remote_addr": "10.99.0.1", "remote_port": 500,
      "local_id": "right", "remote_id": "left", "spi_i": "aa" * 8, "spi_r": "bb" * 8,
      "algorithms": "AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519", "nat_local": False,
      "nat_remote": False, "established_s": 5, "rekey_in_s": None, "children": []}


@dataclass
class Ev:
    kind: str
    ike_name: str
    child_name: str | None = None
    reason: str = ""
    message: str = ""


class Mgr:
    def __init__(self) -> None:
        self.ev: list[Ev] = []

    def initiate(self, child: str, ike: str | None, now: float) -> int:
        if child == "nosuch":
            raise KeyError("no child named 'nosuch' in the loaded configuration")
        if child == "bad":
            self.ev.append(Ev("failed", "net", reason="peer refused: NO_PROPOSAL_CHOSEN"))
        else:
            self.ev += [Ev("ike_up", "net", message="IKE SA up"), Ev("child_up", "net", child)]
        return 1

    def terminate_ike(self, name: str, now: float) -> None:
        if name != "net":
            raise KeyError(f"no IKE SA named '{name}'")

    def terminate_child(self, name: str, now: float) -> None:
        pass

    def datagrams_to_send(self) -> list[Any]:
        return []

    def events(self) -> list[Ev]:
        out, self.ev = self.ev, []
        return out

    def next_deadline(self) -> None:
        return None

    def list_sas(self) -> list[dict[str, Any]]:
        return [SA]

    def list_conns(self) -> list[dict[str, Any]]:
        return [{"name": "net", "version": 2, "children": ["net"]}]

    def stats(self) -> dict[str, int]:
        return {"zeta": 1, "alpha": 2}


@pytest.fixture
def daemon_socket(tmp_path):
    """A control server with DaemonCommands over a fake engine, in a background loop."""
    path = str(tmp_path / "ikepy.sock")
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: list[Any] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        runtime = Runtime(Mgr(), None, addresses=["127.0.0.1"], port=0, port_nat_t=0)
        server = ControlServer(path, DaemonCommands(runtime, lambda: "2 connections"))

        async def start() -> None:
            await runtime.start()
            await server.start()
            stop.append(asyncio.Event())
            ready.set()
            await stop[0].wait()
            await server.close()
            await runtime.stop()

        loop.run_until_complete(start())

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert ready.wait(5)
    yield path
    loop.call_soon_threadsafe(stop[0].set)
    t.join(5)
    loop.close()


def test_list_sas_human_and_json(daemon_socket, capsys):
    assert main(["--socket", daemon_socket, "list-sas"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("net: #1, ESTABLISHED, IKEv2, aaaaaaaaaaaaaaaa_i bbbbbbbbbbbbbbbb_r*\n")
    assert main(["list-sas", "--json", "--socket", daemon_socket]) == 0
    assert json.loads(capsys.readouterr().out) == [SA]


def test_stats_sorted_and_env_socket(daemon_socket, capsys, monkeypatch):
    monkeypatch.setenv("IKEPY_SOCKET", daemon_socket)
    assert main(["stats"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["alpha: 2", "zeta: 1"]
    assert lines == sorted(lines)


def test_initiate_success_and_failures(daemon_socket, capsys):
    assert main(["initiate", "--child", "net", "--socket", daemon_socket]) == 0
    out = capsys.readouterr().out
    assert "net: IKE SA up" in out and "child 'net' is up on 'net'" in out
    assert main(["initiate", "--child", "bad", "--ike", "net", "--socket", daemon_socket]) == 1
    assert "NO_PROPOSAL_CHOSEN" in capsys.readouterr().err
    assert main(["initiate", "--child", "nosuch", "--socket", daemon_socket]) == 1
    assert "ikepy: no child named 'nosuch'" in capsys.readouterr().err


def test_terminate_load_version_list_conns(daemon_socket, capsys):
    assert main(["terminate", "--ike", "net", "--socket", daemon_socket]) == 0
    assert main(["terminate", "--ike", "zzz", "--socket", daemon_socket]) == 1
    assert "no IKE SA named 'zzz'" in capsys.readouterr().err
    assert main(["load", "--socket", daemon_socket]) == 0
    assert "2 connections" in capsys.readouterr().out
    assert main(["version", "--socket", daemon_socket]) == 0
    assert "(daemon, Python" in capsys.readouterr().out
    assert main(["list-conns", "--socket", daemon_socket]) == 0
    assert capsys.readouterr().out.startswith("net: IKEv2")


@pytest.mark.parametrize("argv", [["list-sas"], ["stats", "--json"], ["initiate", "--child", "x"],
                                  ["terminate", "--child", "x"], ["load"], ["list-conns"]])
def test_daemon_not_running(tmp_path, capsys, argv):
    sock = str(tmp_path / "absent.sock")
    assert main([*argv, "--socket", sock]) == 3
    err = capsys.readouterr().err
    assert f"cannot reach ikepy at {sock}: is the daemon running?" in err
    assert "ikepy daemon --config FILE" in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["terminate", "--ike", "a", "--child", "b"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["initiate"])
    assert exc.value.code == 2


def test_python_dash_m(tmp_path):
    r = subprocess.run([sys.executable, "-m", "ikepy", "--socket", str(tmp_path / "x.sock"), "list-sas"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 3
    assert "is the daemon running?" in r.stderr
