"""The daemon process: bad config, control commands' argument checks, SIGTERM."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from ikepy.cli.main import main
from ikepy.control.server import CommandError
from ikepy.daemon.runtime import Runtime
from ikepy.daemon.service import DaemonCommands, config_local_addresses

GOOD_CONF = """\
connections {
    net {
        local_addrs = 127.0.0.1
        remote_addrs = 127.0.0.2
        proposals = aes256gcm16-prfsha256-x25519
        local {
            auth = psk
            id = left
        }
        remote {
            auth = psk
            id = right
        }
        children {
            net {
                local_ts = 10.1.0.0/24
                remote_ts = 10.2.0.0/24
            }
        }
    }
}
secrets {
    ike-1 {
        id-1 = left
        id-2 = right
        secret = "Tq4#vB8zLm2Wx7Rk9Pn3"
    }
}
"""


def test_bad_config_exits_2_naming_file_and_line(tmp_path, capsys):
    conf = tmp_path / "swanctl.conf"
    conf.write_text("connections {\n  net {\n    proposals = aes999-nonsense\n  }\n}\n")
    sock = tmp_path / "ikepy.sock"
    assert main(["daemon", "--config", str(conf), "--socket", str(sock)]) == 2
    err = capsys.readouterr().err
    assert f"{conf}:" in err
    assert not sock.exists()


def test_missing_config_exits_2(tmp_path, capsys):
    assert main(["daemon", "--config", str(tmp_path / "absent.conf")]) == 2
    assert "absent.conf" in capsys.readouterr().err


def test_local_addresses_from_config():
    from ikepy.config import load_config_text

    cfg = load_config_text(GOOD_CONF, "<t>").config
    assert config_local_addresses(cfg) == ["127.0.0.1"]
    wild = load_config_text(GOOD_CONF.replace("local_addrs = 127.0.0.1\n", ""), "<t>").config
    assert config_local_addresses(wild) == []


def test_command_argument_checks(fake_manager):
    async def go():
        cmds = DaemonCommands(Runtime(fake_manager, None))
        for args, words in (({}, "needs a child name"), ({"child": "net", "timeout": -1}, "positive"),
                            ({"child": "net", "ike": 5}, "connection name")):
            with pytest.raises(CommandError, match=words):
                await cmds("initiate", args, lambda _l: None)
        with pytest.raises(CommandError, match="exactly one"):
            await cmds("terminate", {"ike": "a", "child": "b"}, lambda _l: None)
        with pytest.raises(CommandError, match="no configuration file"):
            await cmds("load", {}, lambda _l: None)
        with pytest.raises(CommandError, match="no child named 'nosuch'"):
            await cmds("initiate", {"child": "nosuch"}, lambda _l: None)
        stats = await cmds("stats", {}, lambda _l: None)
        assert stats["ike_in"] == 0

    asyncio.run(go())


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(importlib.util.find_spec("ikepy.ikev2.manager") is None,
                    reason="needs the IKEv2 engine (ikepy.ikev2.manager), which is not written yet")
def test_sigterm_shuts_down_cleanly(tmp_path):
    conf = tmp_path / "swanctl.conf"
    conf.write_text(GOOD_CONF)
    os.chmod(conf, 0o600)
    sock = tmp_path / "run" / "ikepy.sock"
    cmd = [sys.executable, "-m", "ikepy", "daemon", "--config", str(conf), "--socket", str(sock),
           "--dataplane", "none", "--port", str(_free_udp_port()), "--port-nat-t", str(_free_udp_port())]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the daemon did not create its control socket"
            time.sleep(0.05)
        assert main(["list-conns", "--socket", str(sock)]) == 0
        assert main(["load", "--socket", str(sock)]) == 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=8) == 0
        err = proc.stderr.read() if proc.stderr else ""
        assert "received SIGTERM" in err and "stopped" in err
        assert not sock.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
