"""Interop harness: network namespaces, strongSwan (charon) and the ikepy daemon.

Everything here runs as root on Linux with Debian's strongSwan packages
(``strongswan-charon strongswan-swanctl libcharon-extra-plugins
libstrongswan-extra-plugins``) and ``iproute2``; ``nftables`` for the NAT
topology, ``tshark`` for captures. It is plain Python (no pytest import) so that
``tools/`` and ``benchmarks/`` can use it too; the pytest fixtures live in
``conftest.py`` beside it.

Traps this module deals with (see ``testbed/README.md`` of the shared folder):

* charon needs ``kernel-netlink`` loaded next to ``kernel-libipsec`` (the
  latter gives userspace ESP over the TUN device ``ipsec0``; the kernel of the
  test machines has XFRM but no ESP transform). CHILD_SAs must therefore use
  UDP encapsulation (``encap = yes``) and traffic reaches a CHILD_SA only
  through a route via ``ipsec0`` (``Charon.add_route``).
* Two charons on one machine collide on their pid file under ``/run``: each
  runs in its own mount namespace (``unshare -m --propagation private``) with a
  private tmpfs on ``/run``, with ``STRONGSWAN_CONF`` pointing at its own
  strongswan.conf and its own vici socket (outside ``/run``).
* ``swanctl`` is pointed at that socket with ``-u unix://PATH`` and at the
  config with ``-f PATH``.
* charon's DoS protection (cookies after 30 half-open SAs, 5 half-open per
  peer address, blocking) throttles scale tests: ``NO_DOS_LIMITS`` lifts it.
* At ``ike = 4`` charon logs the key material as hex dumps (``parse_key_log``).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CHARON = Path(os.environ.get("IKEPY_CHARON", "/usr/lib/ipsec/charon"))
SWANCTL = os.environ.get("IKEPY_SWANCTL", "swanctl")

# charon's DoS throttles lifted, for load and scale tests (strongswan.conf charon section)
NO_DOS_LIMITS = """
  block_threshold = 1000000
  cookie_threshold = 1000000
  init_limit_half_open = 1000000
  init_limit_job_load = 0
"""

# the plugins charon loads (all from Debian's packages); kernel-netlink is
# required next to kernel-libipsec: it provides the kernel-net feature.
CHARON_PLUGINS = (
    "random nonce openssl pem pkcs1 pkcs8 x509 revocation constraints pubkey "
    "curve25519 aes sha1 sha2 hmac gcm chapoly kdf gmp "
    "eap-identity eap-mschapv2 eap-md5 socket-default vici updown"
)

DEFAULT_LOG_LEVELS = {"default": 1, "ike": 2, "cfg": 2, "knl": 1, "net": 1, "enc": 1}


class HarnessError(RuntimeError):
    """The testbed could not be set up (not a failure of the system under test)."""


# --------------------------------------------------------------------------- #
# environment checks
# --------------------------------------------------------------------------- #

INSTALL_HINT = (
    "apt-get install strongswan-charon strongswan-swanctl libcharon-extra-plugins "
    "libstrongswan-extra-plugins iproute2 nftables tshark"
)


def missing_requirements(*, nat: bool = False, tshark: bool = False) -> list[str]:
    """What keeps the interop tests from running here (empty list: nothing)."""
    missing = []
    if sys.platform != "linux":
        missing.append(f"Linux (this is {sys.platform})")
    if os.geteuid() != 0:
        missing.append("root (network namespaces; run pytest as root, e.g. sudo -E)")
    if not CHARON.exists():
        missing.append(f"charon at {CHARON} (Debian package strongswan-charon)")
    if shutil.which(SWANCTL) is None:
        missing.append("swanctl (Debian package strongswan-swanctl)")
    plugin = Path("/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so")
    if CHARON.exists() and not plugin.exists():
        missing.append(f"{plugin} (Debian package libcharon-extra-plugins)")
    if shutil.which("ip") is None:
        missing.append("ip (Debian package iproute2)")
    if shutil.which("unshare") is None:
        missing.append("unshare (Debian package util-linux)")
    if not Path("/dev/net/tun").exists():
        missing.append("/dev/net/tun (kernel-libipsec needs a TUN device)")
    if nat and shutil.which("nft") is None:
        missing.append("nft (Debian package nftables)")
    if tshark and shutil.which("tshark") is None:
        missing.append("tshark (Debian package tshark)")
    return missing


# --------------------------------------------------------------------------- #
# running things in a namespace
# --------------------------------------------------------------------------- #


def ns_cmd(ns: str | None, *cmd: object) -> list[str]:
    argv = [str(c) for c in cmd]
    return argv if ns is None else ["ip", "netns", "exec", ns, *argv]


def run(
    ns: str | None,
    *cmd: object,
    check: bool = True,
    timeout: float = 30,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` inside namespace ``ns`` (None: here); text output captured."""
    argv = ns_cmd(ns, *cmd)
    full_env = None if env is None else {**os.environ, **env}
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, input=input, env=full_env
    )
    if check and proc.returncode != 0:
        raise HarnessError(
            f"command failed ({proc.returncode}): {shlex.join(argv)}\n"
            f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
        )
    return proc


def _kill_group(proc: subprocess.Popen, grace: float = 5.0) -> int | None:
    """SIGTERM the process group of ``proc`` (started with a new session), then SIGKILL."""
    if proc.poll() is not None:
        return proc.returncode
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(grace)
    except subprocess.TimeoutExpired:
        return None


def wait_for(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; HarnessError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise HarnessError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


_counter = itertools.count()


@dataclass
class Netns:
    """Two namespaces joined by a veth pair (or, with ``nat=True``, through a NAT).

    Plain topology (``Netns.create()``)::

        left  veth-l 10.99.0.1/24 fd00:99::1/64  <->  veth-r 10.99.0.2/24 fd00:99::2/64  right
        lo 10.1.0.1/32                                           lo 10.2.0.1/32

    NAT topology (``Netns.create(nat=True)``): left 10.99.0.1 (veth-l) ->
    nat 10.99.0.254 (veth-ni) | 10.98.0.254 (veth-no, masquerade) -> right
    10.98.0.2 (veth-r); default routes via the NAT; no IPv6.

    Attributes name what a test needs, so the same test can run on both:
    ``left``, ``right``, ``nat`` (namespace names), ``left_addr``,
    ``right_addr`` (outer IPv4, as each side configures its peer),
    ``left_addr6``, ``right_addr6`` (None in NAT), ``left_inner``,
    ``right_inner``, ``left_if``, ``right_if`` (veth names inside the
    namespaces).
    """

    left: str
    right: str
    nat: str | None = None
    left_addr: str = "10.99.0.1"
    right_addr: str = "10.99.0.2"
    left_addr6: str | None = "fd00:99::1"
    right_addr6: str | None = "fd00:99::2"
    left_inner: str = "10.1.0.1"
    right_inner: str = "10.2.0.1"
    left_if: str = "veth-l"
    right_if: str = "veth-r"
    procs: list[subprocess.Popen] = field(default_factory=list)
    _closed: bool = False

    # -- construction ------------------------------------------------------- #

    @classmethod
    def create(cls, *, nat: bool = False, tag: str | None = None) -> Netns:
        """Build the namespaces; unique names ``ikepy-l-<pid>[-n]`` etc."""
        if tag is None:
            n = next(_counter)
            tag = f"{os.getpid()}" + (f"-{n}" if n else "")
        names = {"l": f"ikepy-l-{tag}", "r": f"ikepy-r-{tag}", "n": f"ikepy-n-{tag}"}
        if nat:
            topo = cls(
                left=names["l"], right=names["r"], nat=names["n"],
                right_addr="10.98.0.2", left_addr6=None, right_addr6=None,
            )
        else:
            topo = cls(left=names["l"], right=names["r"])
        try:
            topo._build()
        except BaseException:
            topo.close()
            raise
        return topo

    def _build(self) -> None:
        for ns in self.namespaces:
            run(None, "ip", "netns", "del", ns, check=False)
            run(None, "ip", "netns", "add", ns)
            run(ns, "ip", "link", "set", "lo", "up")
        L, R = self.left, self.right
        if self.nat is None:
            # created directly inside the namespaces: no name clash in the root namespace
            run(None, "ip", "link", "add", "name", self.left_if, "netns", L, "type", "veth",
                "peer", "name", self.right_if, "netns", R)
            run(L, "ip", "addr", "add", f"{self.left_addr}/24", "dev", self.left_if)
            run(R, "ip", "addr", "add", f"{self.right_addr}/24", "dev", self.right_if)
            run(L, "ip", "-6", "addr", "add", f"{self.left_addr6}/64", "dev", self.left_if, "nodad")
            run(R, "ip", "-6", "addr", "add", f"{self.right_addr6}/64", "dev", self.right_if, "nodad")
        else:
            N = self.nat
            run(None, "ip", "link", "add", "name", self.left_if, "netns", L, "type", "veth",
                "peer", "name", "veth-ni", "netns", N)
            run(None, "ip", "link", "add", "name", self.right_if, "netns", R, "type", "veth",
                "peer", "name", "veth-no", "netns", N)
            run(L, "ip", "addr", "add", f"{self.left_addr}/24", "dev", self.left_if)
            run(N, "ip", "addr", "add", "10.99.0.254/24", "dev", "veth-ni")
            run(N, "ip", "addr", "add", "10.98.0.254/24", "dev", "veth-no")
            run(R, "ip", "addr", "add", f"{self.right_addr}/24", "dev", self.right_if)
            for dev in ("veth-ni", "veth-no"):
                run(N, "ip", "link", "set", dev, "up")
            run(N, "sysctl", "-qw", "net.ipv4.ip_forward=1")
            run(N, "nft", "add table ip nat")
            run(N, "nft", "add chain ip nat post { type nat hook postrouting priority 100 ; }")
            run(N, "nft", "add rule ip nat post oifname veth-no masquerade")
        run(L, "ip", "link", "set", self.left_if, "up")
        run(R, "ip", "link", "set", self.right_if, "up")
        if self.nat is not None:
            run(L, "ip", "route", "add", "default", "via", "10.99.0.254")
            run(R, "ip", "route", "add", "default", "via", "10.98.0.254")
        run(L, "ip", "addr", "add", f"{self.left_inner}/32", "dev", "lo")
        run(R, "ip", "addr", "add", f"{self.right_inner}/32", "dev", "lo")

    # -- use ---------------------------------------------------------------- #

    @property
    def namespaces(self) -> tuple[str, ...]:
        return tuple(ns for ns in (self.left, self.nat, self.right) if ns)

    def resolve(self, ns: str) -> str:
        """Accept a role (``left``, ``right``, ``nat``) or a namespace name."""
        role = {"left": self.left, "right": self.right, "nat": self.nat}
        return role.get(ns) or ns

    def run(self, ns: str, *cmd: object, **kw) -> subprocess.CompletedProcess[str]:
        return run(self.resolve(ns), *cmd, **kw)

    def popen(self, ns: str, *cmd: object, **kw) -> subprocess.Popen:
        """Start a background process in ``ns`` in its own process group; it is
        killed at ``close()`` if still running."""
        kw.setdefault("start_new_session", True)
        proc = subprocess.Popen(ns_cmd(self.resolve(ns), *cmd), **kw)
        self.procs.append(proc)
        return proc

    def ping(self, ns: str = "left", dst: str | None = None, src: str | None = None,
             count: int = 3, timeout: float = 1.0, check: bool = False):
        """ping from the inner address of ``ns`` to the other side's inner address."""
        ns = self.resolve(ns)
        if dst is None:
            dst = self.right_inner if ns == self.left else self.left_inner
        if src is None:
            src = self.left_inner if ns == self.left else self.right_inner
        return run(ns, "ping", "-n", "-c", count, "-i", "0.2", "-W", timeout, "-I", src, dst,
                   check=check, timeout=count * (timeout + 1) + 5)

    def close(self) -> None:
        """Kill every process started in the namespaces, then delete them."""
        if self._closed:
            return
        self._closed = True
        for proc in self.procs:
            _kill_group(proc, grace=3)
        for ns in self.namespaces:
            res = run(None, "ip", "netns", "pids", ns, check=False)
            for pid in res.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
        for ns in self.namespaces:
            run(None, "ip", "netns", "del", ns, check=False)

    def __enter__(self) -> Netns:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------- #
# strongSwan
# --------------------------------------------------------------------------- #


def _strongswan_conf(workdir: Path, vici: Path, log: Path, levels: Mapping[str, int],
                     charon_opts: str, plugins: str) -> str:
    lv = "\n".join(f"        {k} = {v}" for k, v in levels.items())
    return f"""# written by tests/interop/harness.py
charon {{
  # kernel-netlink must load too: it provides the kernel-net feature charon needs
  load = {plugins}
  install_routes = no
  retransmit_timeout = 1.0
  retransmit_tries = 3
  {charon_opts}
  filelog {{
    charon {{
        path = {log}
        time_format = %T
        ike_name = yes
        flush_line = yes
{lv}
    }}
  }}
  syslog {{
    daemon {{
        default = -1
    }}
  }}
  plugins {{
    vici {{
      socket = unix://{vici}
    }}
  }}
}}
"""


class _LogFile:
    """A daemon that writes its log to ``log_path`` (charon's filelog, ikepy's stderr)."""

    log_path: Path

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


class Charon(_LogFile):
    """One charon in a namespace, with its own strongswan.conf, /run and vici socket.

    ::

        c = Charon(workdir / "right")
        c.start(topo.right, swanctl_conf, log_levels={"ike": 4})
        c.add_route("10.1.0.0/24", src="10.2.0.1")
        c.initiate("net")            # CompletedProcess; raises HarnessError on failure
        c.list_sas()                 # [{"name":..., "state":..., "children": [...]}, ...]
        c.stop()
    """

    def __init__(self, workdir: str | os.PathLike, name: str = "charon"):
        self.workdir = Path(workdir)
        self.name = name
        self.ns: str | None = None
        self.proc: subprocess.Popen | None = None
        self.conf_path = self.workdir / "strongswan.conf"
        self.swanctl_path = self.workdir / "swanctl.conf"
        self.vici = self.workdir / "charon.vici"
        self.log_path = self.workdir / "charon.log"
        self.stdout_path = self.workdir / "stdout.log"

    @property
    def uri(self) -> str:
        return f"unix://{self.vici}"

    def start(
        self,
        ns: str,
        swanctl_conf: str,
        *,
        charon_opts: str = "",
        log_levels: Mapping[str, int] | None = None,
        plugins: str = CHARON_PLUGINS,
        kernel: str = "libipsec",
        timeout: float = 10.0,
    ) -> Charon:
        """Start charon in ``ns`` and load ``swanctl_conf`` (text) with --load-all.

        ``charon_opts``: extra lines for the ``charon`` section of strongswan.conf
        (e.g. ``NO_DOS_LIMITS``). ``log_levels``: merged over
        ``DEFAULT_LOG_LEVELS``; ``{"ike": 4}`` makes charon log its keys.
        ``kernel``: "libipsec" (userspace ESP over TUN ipsec0) or "netlink"
        (kernel ESP, where the kernel has it).
        """
        if self.proc is not None:
            raise HarnessError(f"{self.name}: already started")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ns = ns
        self.kernel = kernel
        kplugins = "kernel-libipsec kernel-netlink" if kernel == "libipsec" else "kernel-netlink"
        levels = {**DEFAULT_LOG_LEVELS, **(log_levels or {})}
        if self.vici.exists():
            self.vici.unlink()  # a stale socket would pass the readiness wait
        self.conf_path.write_text(
            _strongswan_conf(self.workdir, self.vici, self.log_path, levels, charon_opts,
                             f"{plugins} {kplugins}")
        )
        self.swanctl_path.write_text(swanctl_conf)
        inner = f"mount -t tmpfs none /run && exec {shlex.quote(str(CHARON))}"
        env = {**os.environ, "STRONGSWAN_CONF": str(self.conf_path)}
        with open(self.stdout_path, "wb") as out:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", ns, "unshare", "-m", "--propagation", "private",
                 "sh", "-c", inner],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, start_new_session=True,
            )
        try:
            wait_for(self._ready, timeout, what=f"{self.name}'s vici socket {self.vici}")
            if kernel == "libipsec":
                wait_for(lambda: run(ns, "ip", "link", "show", "ipsec0", check=False).returncode == 0,
                         timeout, what=f"{self.name}'s TUN device ipsec0")
            self.swanctl("--load-all", "--noprompt", "-f", self.swanctl_path)
        except BaseException as e:
            tail = self.log_tail()
            self.stop()
            if isinstance(e, HarnessError):
                raise HarnessError(f"{self.name}: {e}\n--- charon log tail ---\n{tail}") from e
            raise
        return self

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise HarnessError(
                f"{self.name}: charon exited with {self.proc.returncode}; "
                f"stdout: {self.stdout_path.read_text(errors='replace')[-2000:]}"
            )
        return self.vici.is_socket()

    # -- control ------------------------------------------------------------ #

    def swanctl(self, *args: object, check: bool = True, timeout: float = 30
                ) -> subprocess.CompletedProcess[str]:
        """``swanctl ARGS -u unix://VICI`` (run outside the namespace: the socket is a file)."""
        argv = [SWANCTL, *[str(a) for a in args], "-u", self.uri]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise HarnessError(
                f"{self.name}: {shlex.join(argv)} failed ({proc.returncode})\n"
                f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
            )
        return proc

    def initiate(self, child: str, ike: str | None = None, timeout: float = 10,
                 check: bool = True) -> subprocess.CompletedProcess[str]:
        args = ["--initiate", "--child", child, "--timeout", max(1, int(timeout))]
        if ike:
            args += ["--ike", ike]
        return self.swanctl(*args, check=check, timeout=timeout + 10)

    def terminate(self, ike: str | None = None, child: str | None = None,
                  timeout: float = 10, check: bool = True, force: bool = False
                  ) -> subprocess.CompletedProcess[str]:
        args: list[object] = ["--terminate", "--timeout", max(1, int(timeout))]
        if ike:
            args += ["--ike", ike]
        if child:
            args += ["--child", child]
        if force:
            args.append("--force")
        return self.swanctl(*args, check=check, timeout=timeout + 10)

    def list_sas(self) -> list[dict]:
        """IKE_SAs as dicts (see ``parse_list_sas``)."""
        return parse_list_sas(self.swanctl("--list-sas", "--raw").stdout)

    def add_route(self, prefix: str, src: str, dev: str = "ipsec0") -> None:
        """Route ``prefix`` into the TUN device (libipsec: no route, no traffic)."""
        if self.ns is None:
            raise HarnessError(f"{self.name}: not started")
        run(self.ns, "ip", "route", "replace", prefix, "dev", dev, "src", src)

    # -- logs and teardown -------------------------------------------------- #


    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM charon's process group, then SIGKILL; returns the exit status."""
        if self.proc is None:
            return None
        rc = _kill_group(self.proc, grace)
        self.proc = None
        return rc

    def kill(self) -> int | None:
        """SIGKILL charon's process group at once (a crash: no DELETE sent); the log,
        the config and the workdir stay, so ``start`` can run it again."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            return proc.wait(5)
        except subprocess.TimeoutExpired:
            return None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


# --------------------------------------------------------------------------- #
# swanctl --list-sas --raw
# --------------------------------------------------------------------------- #

_TOKEN = re.compile(r"\s*(?:(\})|(\])|([^\s={}\[\]]+)\s*(\{|\[|=))")


def parse_vici_raw(text: str) -> list[tuple[str, dict]]:
    """Parse swanctl's ``--raw`` dump into ``[(message_name, tree), ...]``.

    The format is ``name {key=value key {...} key [item item]}``; one message
    per line (``list-sa event {...}`` lines, then ``list-sas reply {}``).
    Values run up to the next whitespace (swanctl prints no quoting; values
    with spaces do not occur in list-sas output).
    """
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        m = re.match(r"(.*?)\s*\{", line)
        if not m:
            continue
        name = m.group(1)
        pos = m.end()
        tree, pos = _parse_section(line, pos)
        out.append((name, tree))
    return out


def _parse_section(s: str, pos: int) -> tuple[dict, int]:
    d: dict = {}
    while pos < len(s):
        m = _TOKEN.match(s, pos)
        if not m:
            if s[pos:].strip() == "":
                break
            raise ValueError(f"cannot parse vici raw output at {pos}: {s[pos:pos + 40]!r}")
        pos = m.end()
        if m.group(1):  # }
            return d, pos
        key, op = m.group(3), m.group(4)
        if op == "{":
            d[key], pos = _parse_section(s, pos)
        elif op == "[":
            items = []
            while True:
                m2 = re.compile(r"\s*(\]|[^\s\]]+)").match(s, pos)
                if not m2:
                    raise ValueError(f"unterminated list at {pos}")
                pos = m2.end()
                if m2.group(1) == "]":
                    break
                items.append(m2.group(1))
            d[key] = items
        elif s.startswith("[", pos):  # key=[item item]: a list (swanctl's raw form)
            end = s.find("]", pos)
            if end < 0:
                raise ValueError(f"unterminated list at {pos}")
            d[key] = s[pos + 1:end].split()
            pos = end + 1
        else:  # key=value
            m2 = re.compile(r"([^\s}]*)").match(s, pos)
            d[key] = m2.group(1)
            pos = m2.end()
    return d, pos


_INT_KEYS = {
    "uniqueid", "reqid", "local-port", "remote-port", "established", "rekey-time",
    "reauth-time", "life-time", "install-time", "use-in", "use-out", "key-size",
    "integ-keysize", "encr-keysize", "bytes-in", "bytes-out", "packets-in", "packets-out",
    "version", "dh-group-bits",
}


def _typed(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, str) and k in _INT_KEYS and v.isdigit():
            out[k] = int(v)
        else:
            out[k] = v
    return out


def parse_list_sas(text: str) -> list[dict]:
    """``swanctl --list-sas --raw`` -> list of IKE_SA dicts.

    Each IKE_SA dict has the vici keys (``state``, ``initiator-spi``,
    ``responder-spi``, ``local-host``, ``remote-host``, ``local-id``, ...,
    counters as ints) plus ``name`` and ``children``: a list of CHILD_SA dicts
    with ``name``, ``state``, ``spi-in``, ``spi-out`` (hex strings as charon
    prints them), ``bytes-in/out``, ``packets-in/out`` (ints),
    ``local-ts``/``remote-ts`` (lists) and the algorithm keys.
    """
    sas = []
    for msg, tree in parse_vici_raw(text):
        if not msg.startswith("list-sa event"):
            continue
        for ike_name, ike in tree.items():
            sa = _typed({k: v for k, v in ike.items() if k != "child-sas"})
            sa["name"] = ike_name
            children = []
            for child_key, child in (ike.get("child-sas") or {}).items():
                c = _typed(child)
                c.setdefault("name", child_key)
                c["key"] = child_key
                children.append(c)
            sa["children"] = children
            sas.append(sa)
    return sas


# --------------------------------------------------------------------------- #
# charon's key log (ike = 4)
# --------------------------------------------------------------------------- #

_HEXDUMP_LINE = re.compile(r"^\S+\s+\d+\[\w+\]\s*(?:<[^>]*>\s*)?\s*([0-9a-f]{4}):\s+((?:[0-9A-F]{2} ?)+)")
_HEADER_LINE = re.compile(r"^\S+\s+\d+\[(\w+)\]\s*(?:<[^>]*>\s*)?(.*?)\s*=>\s*(\d+) bytes @ \S+\s*$")


def parse_hexdumps(log: str) -> list[tuple[str, bytes]]:
    """All ``%B`` chunk dumps in a charon log: ``[(label, bytes), ...]`` in order.

    charon prints a chunk as a header line ``... LABEL => N bytes @ 0x...``
    followed by lines ``...    0: 0011 2233 ...  ascii`` (16 octets a line).
    """
    out = []
    lines = log.splitlines()
    i = 0
    while i < len(lines):
        m = _HEADER_LINE.match(lines[i])
        if not m:
            i += 1
            continue
        label, n = m.group(2), int(m.group(3))
        data = bytearray()
        i += 1
        while len(data) < n and i < len(lines):
            hm = re.match(r"^\S+\s+\d+\[\w+\]\s*(?:<[^>]*>\s*)?\s*(\d+): ((?:[0-9A-F]{2}){1,2}(?: (?:[0-9A-F]{2}){1,2})*)", lines[i])
            if not hm:
                break
            data += bytes.fromhex(hm.group(2).replace(" ", ""))
            i += 1
        out.append((label, bytes(data[:n])))
    return out


# --------------------------------------------------------------------------- #
# the ikepy daemon
# --------------------------------------------------------------------------- #


class IkepyDaemon(_LogFile):
    """``python -m ikepy daemon`` in a namespace, and its CLI.

    ::

        d = IkepyDaemon(workdir / "ikepy")
        d.start(topo.left, conf_text, fmt="swanctl", dataplane="userspace")
        d.cli("initiate", "--child", "net")      # CompletedProcess
        d.list_sas()                             # parsed `list-sas --json`
        assert d.stop() == 0                     # SIGTERM, wait, exit status
    """

    def __init__(self, workdir: str | os.PathLike, name: str = "ikepy"):
        self.workdir = Path(workdir)
        self.name = name
        self.ns: str | None = None
        self.proc: subprocess.Popen | None = None
        self.socket = self.workdir / "ikepy.sock"
        self.log_path = self.workdir / "ikepy.log"
        self.config_path: Path | None = None

    def start(self, ns: str, config_text: str, fmt: str = "swanctl", dataplane: str = "none",
              *, extra_args: Sequence[str] = (), env: Mapping[str, str] | None = None,
              timeout: float = 10.0) -> IkepyDaemon:
        if fmt not in ("swanctl", "toml"):
            raise ValueError(f"fmt must be 'swanctl' or 'toml', not {fmt!r}")
        if dataplane not in ("none", "userspace", "xfrm"):
            raise ValueError(f"unknown dataplane {dataplane!r}")
        if self.proc is not None:
            raise HarnessError(f"{self.name}: already started")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ns = ns
        self.config_path = self.workdir / ("swanctl.conf" if fmt == "swanctl" else "ikepy.toml")
        self.config_path.write_text(config_text)
        self.config_path.chmod(0o600)  # it holds the PSK: ikepy warns about anything wider
        if self.socket.exists():
            self.socket.unlink()
        argv = ["ip", "netns", "exec", ns, sys.executable, "-m", "ikepy", "daemon",
                "--config", str(self.config_path), "--socket", str(self.socket),
                "--dataplane", dataplane, *extra_args]
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=full_env,
                                         start_new_session=True)
        try:
            wait_for(self._ready, timeout, what=f"{self.name}'s control socket {self.socket}")
        except BaseException as e:
            self.kill()
            if isinstance(e, HarnessError):
                raise HarnessError(f"{self.name}: {e}\n--- log tail ---\n{self.log_tail()}") from e
            raise
        return self

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise HarnessError(f"{self.name}: ikepy daemon exited with {self.proc.returncode}")
        return self.socket.is_socket()

    def cli(self, *args: object, check: bool = False, timeout: float = 30
            ) -> subprocess.CompletedProcess[str]:
        """``python -m ikepy ARGS --socket SOCK`` (outside the namespace: the socket is a file)."""
        argv = [sys.executable, "-m", "ikepy", *[str(a) for a in args], "--socket", str(self.socket)]
        env = {**os.environ, "IKEPY_SOCKET": str(self.socket)}
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
        if check and proc.returncode != 0:
            raise HarnessError(f"{self.name}: {shlex.join(argv)} failed ({proc.returncode})\n"
                               f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc

    def initiate(self, child: str, ike: str | None = None, timeout: float = 10, check: bool = True):
        args: list[object] = ["initiate", "--child", child, "--timeout", timeout]
        if ike:
            args += ["--ike", ike]
        return self.cli(*args, check=check, timeout=timeout + 10)

    def terminate(self, ike: str | None = None, child: str | None = None, check: bool = True):
        args: list[object] = ["terminate"]
        if ike:
            args += ["--ike", ike]
        if child:
            args += ["--child", child]
        return self.cli(*args, check=check)

    def list_sas(self) -> list[dict]:
        return json.loads(self.cli("list-sas", "--json", check=True).stdout)

    def stats(self) -> str:
        return self.cli("stats", check=True).stdout


    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM (to the daemon's process group) and wait; returns its exit status
        (a clean shutdown is 0). SIGKILL if it does not exit within ``timeout``."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                return proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
                return None
        return proc.returncode

    def kill(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(5)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


# --------------------------------------------------------------------------- #
# swanctl.conf text for the common cases
# --------------------------------------------------------------------------- #

DEFAULT_PSK = "Xq7vR2pL9zWtKd4mH8sNb3Jc6fYe"


def swanctl_conf(
    *,
    local_addr: str,
    remote_addr: str,
    local_id: str,
    remote_id: str,
    local_ts: str,
    remote_ts: str,
    proposals: str = "aes256gcm16-prfsha256-x25519",
    esp_proposals: str = "aes256gcm16-x25519",
    psk: str = DEFAULT_PSK,
    encap: bool = True,
    conn: str = "net",
    child: str = "net",
    extra_conn: str = "",
    extra_child: str = "",
) -> str:
    """A PSK connection ``conn`` with one child ``child`` (swanctl.conf syntax)."""
    return f"""connections {{
  {conn} {{
    version = 2
    local_addrs = {local_addr}
    remote_addrs = {remote_addr}
    encap = {"yes" if encap else "no"}
    proposals = {proposals}
    {extra_conn}
    local {{
      auth = psk
      id = {local_id}
    }}
    remote {{
      auth = psk
      id = {remote_id}
    }}
    children {{
      {child} {{
        local_ts = {local_ts}
        remote_ts = {remote_ts}
        esp_proposals = {esp_proposals}
        {extra_child}
      }}
    }}
  }}
}}
secrets {{
  ike-1 {{
    id-1 = {local_id}
    id-2 = {remote_id}
    secret = "{psk}"
  }}
}}
"""


def pair_confs(topo: Netns, **kw) -> tuple[str, str]:
    """(left conf, right conf) for a tunnel 10.1.0.0/24 <-> 10.2.0.0/24 over ``topo``.

    In the NAT topology left's peer is right's real address and right's peer
    is ``%any`` (it sees the NAT's address).
    """
    left = swanctl_conf(local_addr=topo.left_addr, remote_addr=topo.right_addr,
                        local_id="left", remote_id="right",
                        local_ts="10.1.0.0/24", remote_ts="10.2.0.0/24", **kw)
    right = swanctl_conf(local_addr=topo.right_addr,
                         remote_addr="%any" if topo.nat else topo.left_addr,
                         local_id="right", remote_id="left",
                         local_ts="10.2.0.0/24", remote_ts="10.1.0.0/24", **kw)
    return left, right


def make_workdir(prefix: str = "ikepy-interop-") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


__all__ = [
    "CHARON", "SWANCTL", "NO_DOS_LIMITS", "DEFAULT_PSK", "HarnessError", "Netns", "Charon",
    "IkepyDaemon", "run", "ns_cmd", "wait_for", "missing_requirements", "parse_list_sas",
    "parse_vici_raw", "parse_hexdumps", "swanctl_conf", "pair_confs", "make_workdir",
    "Capture", "tcp_transfer",
]



# --------------------------------------------------------------------------- #
# small helpers for the data plane tests (captures, bulk TCP through a tunnel)
# --------------------------------------------------------------------------- #


class Capture:
    """``tshark -w`` on an interface inside a namespace, with a capture filter.

    ::

        with Capture(topo.left, "veth-l", "ip proto 50", tmp / "esp.pcap") as cap:
            topo.ping()
        cap.fields("esp.spi", "esp.sequence")   # [[spi, seq], ...] one per packet
    """

    def __init__(self, ns: str, iface: str, bpf: str, path: str | os.PathLike,
                 timeout: float = 10.0):
        self.ns, self.iface, self.bpf, self.path = ns, iface, bpf, Path(path)
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None
        self._err = self.path.with_suffix(".stderr")

    def start(self) -> Capture:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._err, "wb") as err:
            self.proc = subprocess.Popen(
                ns_cmd(self.ns, "tshark", "-n", "-i", self.iface, "-f", self.bpf, "-w", self.path),
                stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
                start_new_session=True)
        wait_for(lambda: b"Capturing on" in self._err.read_bytes() or self.proc.poll() is not None,
                 self.timeout, what=f"tshark on {self.iface} in {self.ns}")
        if self.proc.poll() is not None:
            raise HarnessError(f"tshark exited: {self._err.read_text(errors='replace')}")
        time.sleep(0.2)  # the filter is attached just after the message
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        time.sleep(0.3)  # let the last packets reach the file
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                _kill_group(proc, 1)

    def fields(self, *names: str, display_filter: str = "") -> list[list[str]]:
        """One row of field values (strings) per captured packet (after display_filter)."""
        argv = ["tshark", "-n", "-r", str(self.path), "-T", "fields", "-E", "separator=\t"]
        if display_filter:
            argv += ["-Y", display_filter]
        for n in names:
            argv += ["-e", n]
        out = run(None, *argv, timeout=60).stdout
        return [line.split("\t") for line in out.splitlines() if line.strip()]

    def __enter__(self) -> Capture:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def tcp_transfer(topo: Netns, src_ns: str, dst_ns: str, src_ip: str, dst_ip: str,
                 workdir: str | os.PathLike, size: int = 20 * 1024 * 1024, port: int = 5001,
                 timeout: float = 240) -> tuple[str, str]:
    """Send ``size`` pseudo-random octets over TCP from src_ip (in src_ns) to dst_ip
    (in dst_ns); returns (SHA-256 sent, SHA-256 received) as hex."""
    import hashlib

    workdir = Path(workdir)
    blob, got = workdir / f"tcp-blob-{port}", workdir / f"tcp-got-{port}"
    blob.write_bytes(hashlib.shake_256(f"{size}-{port}".encode()).digest(size))
    want = hashlib.sha256(blob.read_bytes()).hexdigest()
    server = topo.popen(dst_ns, sys.executable, "-c", (
        "import socket,sys\n"
        "s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
        f"s.bind(({dst_ip!r},{port}));s.listen(1);c,_=s.accept()\n"
        f"f=open({str(got)!r},'wb')\n"
        "while True:\n d=c.recv(262144)\n if not d: break\n f.write(d)\n"
        "f.close()\n"))
    wait_for(lambda: f":{port}" in topo.run(dst_ns, "ss", "-ltnH", check=False).stdout, 10,
             what="the TCP sink")
    topo.run(src_ns, sys.executable, "-c", (
        "import socket\n"
        f"s=socket.create_connection(({dst_ip!r},{port}),source_address=({src_ip!r},0))\n"
        f"s.sendall(open({str(blob)!r},'rb').read());s.close()\n"), timeout=timeout)
    server.wait(timeout=60)
    return want, hashlib.sha256(got.read_bytes()).hexdigest() if got.exists() else ""



# A userspace netem for kernels without sch_netem (CONFIG_NET_SCH_NETEM is off on some
# test machines: "tc qdisc ... netem" fails with "Specified qdisc kind is unknown").
# Packets from a namespace to one peer address are routed into a TUN device; this
# script reads them, drops / delays / reorders / duplicates them as told by a JSON file
# (reread when it changes) and sends them on with a raw socket marked 1, which a policy
# rule routes out of the real interface.
_IMPAIR_SCRIPT = r"""
import fcntl, heapq, json, os, random, select, socket, struct, sys, time
def send(pkt):
    try:
        raw.sendto(pkt, (peer, 0)); st["out"] += 1
    except OSError as e:
        st["send_errors"] = st.get("send_errors", 0) + 1
dev, peer, params_path, stats_path = sys.argv[1:5]
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", dev.encode(), 0x0001 | 0x1000))
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
raw.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, 1)
p, mtime = {}, None
st = {"in": 0, "out": 0, "dropped": 0, "duplicated": 0, "delayed": 0, "undelayed": 0}
q, seq, last_stats = [], 0, 0.0
print("ready", flush=True)
while True:
    now = time.monotonic()
    try:
        m = os.stat(params_path).st_mtime_ns
        if m != mtime:
            mtime, p = m, json.load(open(params_path))
    except (OSError, ValueError):
        pass
    while q and q[0][0] <= now:
        send(heapq.heappop(q)[2])
    if now - last_stats > 0.2:
        last_stats = now
        with open(stats_path + ".tmp", "w") as f:
            json.dump(st, f)
        os.replace(stats_path + ".tmp", stats_path)
    wait = min(0.05, max(0.0, q[0][0] - now)) if q else 0.05
    if not select.select([fd], [], [], wait)[0]:
        continue
    pkt = os.read(fd, 65535)
    if len(pkt) < 20 or pkt[0] >> 4 != 4 or socket.inet_ntoa(pkt[16:20]) != peer:
        continue  # IPv6 router solicitations and the like on the TUN device
    st["in"] += 1
    ihl = (pkt[0] & 15) * 4
    dport = int.from_bytes(pkt[ihl + 2:ihl + 4], "big") if pkt[9] == 17 else 0
    if dport == 500 or (dport == 4500 and pkt[ihl + 8:ihl + 12] == bytes(4)):
        st["ike"] = st.get("ike", 0) + 1
        every = p.get("drop_ike_every", 0)
        if every and st["ike"] % every == 0:
            st["dropped_ike"] = st.get("dropped_ike", 0) + 1; continue
    if random.random() < p.get("loss", 0.0):
        st["dropped"] += 1; continue
    copies = 2 if random.random() < p.get("duplicate", 0.0) else 1
    st["duplicated"] += copies - 1
    for _ in range(copies):
        delay = p.get("delay", 0.0)
        if delay and random.random() >= p.get("reorder", 0.0):
            seq += 1; heapq.heappush(q, (time.monotonic() + delay, seq, pkt)); st["delayed"] += 1
        else:
            send(pkt); st["undelayed"] += 1
"""


class Impairment:
    """Loss, delay, reordering and duplication of what ``ns`` sends to ``peer``
    (one direction, like netem on that namespace's veth), in userspace.

    ::

        imp = Impairment(topo, topo.left, topo.right_addr, topo.left_addr, workdir).start()
        imp.set(loss=0.2)                                  # netem loss 20%
        imp.set(delay=0.01, reorder=0.25, duplicate=0.1)   # delay 10ms reorder 25% dup 10%
        imp.stats()   # {"in":..., "out":..., "dropped":..., "duplicated":..., ...}
        imp.stop()

    ``reorder`` as netem's: that share of packets goes at once, the rest after
    ``delay``, so the immediate ones overtake the delayed ones.
    """

    def __init__(self, topo: Netns, ns: str, peer: str, src: str,
                 workdir: str | os.PathLike, dev: str = "imp0", table: int = 100):
        self.topo, self.ns, self.peer, self.src, self.dev = topo, topo.resolve(ns), peer, src, dev
        self.table = table
        self.workdir = Path(workdir)
        self.params = self.workdir / f"impair-{dev}.json"
        self.stats_path = self.workdir / f"impair-{dev}.stats.json"
        self.proc: subprocess.Popen | None = None

    def start(self, **params: float) -> Impairment:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.set(**params)
        self.proc = self.topo.popen(self.ns, sys.executable, "-c", _IMPAIR_SCRIPT, self.dev,
                                    self.peer, self.params, self.stats_path,
                                    stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if line.strip() != "ready":
            raise HarnessError(f"impairment process did not start ({self.proc.poll()}): {line!r}")
        run(self.ns, "ip", "link", "set", self.dev, "up")
        run(self.ns, "ip", "rule", "add", "fwmark", "1", "lookup", self.table, "pref", "100")
        real = run(self.ns, "ip", "-o", "route", "get", self.peer).stdout.split()
        out_dev = real[real.index("dev") + 1]
        run(self.ns, "ip", "route", "replace", f"{self.peer}/32", "dev", out_dev,
            "table", self.table)
        run(self.ns, "ip", "route", "replace", f"{self.peer}/32", "dev", self.dev, "src", self.src)
        return self

    def set(self, *, loss: float = 0.0, delay: float = 0.0, reorder: float = 0.0,
            duplicate: float = 0.0, drop_ike_every: int = 0) -> None:
        """``drop_ike_every`` N: drop each Nth IKE message (UDP 500, or 4500 with the
        non-ESP marker) besides the random ``loss``: retransmissions, for certain."""
        tmp = self.params.with_suffix(".tmp")
        tmp.write_text(json.dumps({"loss": loss, "delay": delay, "reorder": reorder,
                                   "duplicate": duplicate, "drop_ike_every": drop_ike_every}))
        os.replace(tmp, self.params)

    def stats(self) -> dict:
        try:
            return json.loads(self.stats_path.read_text())
        except (OSError, ValueError):
            return {}

    def stop(self) -> None:
        """Back to the plain link."""
        run(self.ns, "ip", "route", "del", f"{self.peer}/32", "dev", self.dev, check=False)
        run(self.ns, "ip", "rule", "del", "pref", "100", check=False)
        if self.proc is not None:
            _kill_group(self.proc, grace=2)
            self.proc = None


__all__ += ["Impairment"]
