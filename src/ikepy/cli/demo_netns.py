"""The root half of `ikepy demo`: two ikepy daemons in network namespaces, real ESP.

::

    ikepy-demo-l-PID                                 ikepy-demo-r-PID
      lo 10.1.0.1   ipsec0 (TUN)                       lo 10.2.0.1   ipsec0 (TUN)
      veth-l 10.99.0.1/24  <-- ESP (IP protocol 50) -->  veth-r 10.99.0.2/24

Each side runs ``python -m ikepy daemon --dataplane userspace`` under
``ip netns exec``; the configurations (mode 0600), control sockets and logs
live in a temporary folder (mode 0700). Everything made here is listed in a
``_Made`` record and removed in ``finally`` (SIGTERM and SIGHUP become
KeyboardInterrupt for that, further signals are ignored while cleaning up).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ikepy.cli import demo

LEFT_OUTER, RIGHT_OUTER = "10.99.0.1", "10.99.0.2"
LEFT_INNER, RIGHT_INNER = "10.1.0.1", "10.2.0.1"
LEFT_NET, RIGHT_NET = "10.1.0.0/24", "10.2.0.0/24"
STEP_TIMEOUT = 20.0


def netns_unavailable() -> str | None:
    """Why the namespace demo cannot run here (one short phrase), or None."""
    if sys.platform != "linux":
        return f"not Linux ({sys.platform})"
    if os.geteuid() != 0:
        return "not root"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    for tool in ("ip", "ping"):
        if shutil.which(tool) is None:
            return f"no '{tool}' command"
    return None


def swanctl_conf(me: str, my_ip: str, peer: str, peer_ip: str, my_net: str, peer_net: str) -> str:
    # raw ESP between the namespaces (no NAT, nothing forces UDP encapsulation)
    return demo.swanctl_conf(me, my_ip, peer, peer_ip, my_net, peer_net, transport="encap = no")


class DemoError(Exception):
    """A step of the demo failed; str() says which and why."""


@dataclass
class _Made:
    """What the demo created, so that cleanup removes exactly that."""

    workdir: Path | None = None
    namespaces: list[str] = field(default_factory=list)
    daemons: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)


def _run(argv: list[str], timeout: float = STEP_TIMEOUT, check: bool = True
         ) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise DemoError(f"`{' '.join(argv)}` failed ({proc.returncode}): "
                        f"{(proc.stderr or proc.stdout).strip()}")
    return proc


def _in(ns: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


def _ikepy(sock: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "ikepy", *args, "--socket", str(sock)]


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _build_namespaces(made: _Made, left: str, right: str, out: TextIO) -> None:
    for ns in (left, right):
        _run(["ip", "netns", "add", ns])
        made.namespaces.append(ns)
        _run(_in(ns, "ip", "link", "set", "lo", "up"))
    # both ends created inside the namespaces: no name clash in the root namespace
    _run(["ip", "link", "add", "name", "veth-l", "netns", left, "type", "veth",
          "peer", "name", "veth-r", "netns", right])
    for ns, dev, outer, inner in ((left, "veth-l", LEFT_OUTER, LEFT_INNER),
                                  (right, "veth-r", RIGHT_OUTER, RIGHT_INNER)):
        _run(_in(ns, "ip", "addr", "add", f"{outer}/24", "dev", dev))
        _run(_in(ns, "ip", "link", "set", dev, "up"))
        _run(_in(ns, "ip", "addr", "add", f"{inner}/32", "dev", "lo"))
    print(f"namespaces {left} ({LEFT_OUTER}, inner {LEFT_INNER}) and {right} "
          f"({RIGHT_OUTER}, inner {RIGHT_INNER}) joined by a veth pair", file=out, flush=True)


def _start_daemon(made: _Made, ns: str, name: str, conf: Path, sock: Path, log: Path) -> None:
    with open(log, "wb") as f:
        proc = subprocess.Popen(
            _in(ns, sys.executable, "-m", "ikepy", "daemon", "--config", str(conf),
                "--socket", str(sock), "--dataplane", "userspace"),
            stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    made.daemons.append((name, proc))


def _wait(pred: Any, timeout: float, what: str, procs: list[tuple[str, subprocess.Popen[bytes]]]
          ) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        for name, proc in procs:
            if proc.poll() is not None:
                raise DemoError(f"the {name} daemon exited with status {proc.returncode}")
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def _children(sock: Path) -> list[Any]:
    proc = _run(_ikepy(sock, "list-sas", "--json"), check=False)
    if proc.returncode != 0:
        return []
    try:
        sas = json.loads(proc.stdout)
    except ValueError:
        return []
    return [c for sa in sas for c in (sa.get("children") or ())]


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line for line in text.rstrip().splitlines())


def _cleanup(made: _Made, out: TextIO) -> None:
    for _name, proc in made.daemons:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    for name, proc in made.daemons:
        try:
            rc = proc.wait(8)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            rc = proc.wait(5)
        print(f"{name} daemon stopped (exit status {rc})", file=out, flush=True)
    for ns in made.namespaces:
        pids = _run(["ip", "netns", "pids", ns], check=False).stdout.split()
        for pid in pids:  # anything still running in a namespace we made
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        _run(["ip", "netns", "del", ns], check=False)
    if made.namespaces:
        print(f"namespaces {' and '.join(made.namespaces)} deleted", file=out, flush=True)
    if made.workdir is not None:
        shutil.rmtree(made.workdir, ignore_errors=True)


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run_netns_demo(out: TextIO = sys.stdout) -> int:
    """The namespace demo; 0 when the ping went through, 1 on failure, 130 on Ctrl-C."""
    pid = os.getpid()
    left_ns, right_ns = f"ikepy-demo-l-{pid}", f"ikepy-demo-r-{pid}"
    made = _Made()
    old = {s: signal.signal(s, _interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    status = 1
    try:
        made.workdir = Path(tempfile.mkdtemp(prefix="ikepy-demo-"))  # mode 0700
        wd = made.workdir
        socks = {"left": wd / "left.sock", "right": wd / "right.sock"}
        _write_private(wd / "left.conf", swanctl_conf("left", LEFT_OUTER, "right", RIGHT_OUTER,
                                                      LEFT_NET, RIGHT_NET))
        _write_private(wd / "right.conf", swanctl_conf("right", RIGHT_OUTER, "left", LEFT_OUTER,
                                                       RIGHT_NET, LEFT_NET))
        _build_namespaces(made, left_ns, right_ns, out)
        for name, ns in (("right", right_ns), ("left", left_ns)):
            _start_daemon(made, ns, name, wd / f"{name}.conf", socks[name], wd / f"{name}.log")
        _wait(lambda: all(s.is_socket() for s in socks.values()), STEP_TIMEOUT,
              "the daemons' control sockets", made.daemons)
        print(f"ikepy daemons running in both namespaces (userspace ESP over a TUN device, "
              f"raw ESP: IP protocol 50); files in {wd}", file=out, flush=True)

        print(f"\n$ ikepy initiate --child net        (left {LEFT_OUTER} -> right {RIGHT_OUTER})",
              file=out, flush=True)
        init = _run(_ikepy(socks["left"], "initiate", "--child", "net", "--timeout", "15"),
                    timeout=30, check=False)
        print(_indent(init.stdout + init.stderr), file=out, flush=True)
        if init.returncode != 0:
            raise DemoError("the tunnel did not come up")
        _wait(lambda: _children(socks["right"]), STEP_TIMEOUT, "the right side's CHILD_SA",
              made.daemons)

        print(f"\n$ ip netns exec {left_ns} ping -c 3 -I {LEFT_INNER} {RIGHT_INNER}",
              file=out, flush=True)
        ping = _run(_in(left_ns, "ping", "-c", "3", "-i", "0.3", "-W", "2", "-I", LEFT_INNER,
                        RIGHT_INNER), timeout=30, check=False)
        print(_indent(ping.stdout + ping.stderr), file=out, flush=True)

        for name in ("left", "right"):
            print(f"\n=== {name}: ikepy list-sas ===", file=out)
            sas = _run(_ikepy(socks[name], "list-sas"), check=False)
            print((sas.stdout + sas.stderr).rstrip(), file=out, flush=True)
        if ping.returncode != 0:
            raise DemoError("the ping through the tunnel failed")
        print("\nthe ping went through the tunnel; tearing down", file=out, flush=True)
        status = 0
    except KeyboardInterrupt as exc:
        print(f"\ninterrupted ({exc or 'SIGINT'}); cleaning up", file=out, flush=True)
        status = 130
    except (DemoError, OSError, subprocess.SubprocessError) as exc:
        print(f"\nikepy: demo failed: {exc}", file=out, flush=True)
        if made.workdir is not None:
            for name in ("left", "right"):
                log = made.workdir / f"{name}.log"
                if log.exists():
                    tail = log.read_text(errors="replace").splitlines()[-15:]
                    print(f"--- {name} daemon log (last lines) ---", file=out)
                    print("\n".join(tail), file=out, flush=True)
    finally:
        # a second Ctrl-C must not leave namespaces behind
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        try:
            _cleanup(made, out)
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            for s, h in old.items():
                signal.signal(s, h)
    return status
