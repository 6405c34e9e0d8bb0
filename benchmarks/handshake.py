"""IKE_SA setup rate of the sans-I/O engine, and where the time goes.

    python benchmarks/handshake.py [--count 300] [--suite x25519 ...] [--top 10]

Two IkeManagers (PSK, one CHILD_SA) are joined by ikepy.ikev2.simulate.Network
on a fake clock: no sockets, no sleeping.  One handshake is IKE_SA_INIT +
IKE_AUTH, timed from ``initiate()`` until both sides hold an ESTABLISHED IKE_SA
with its CHILD_SA; the IKE_SA is then deleted (INFORMATIONAL, timed apart) so
the SA tables stay at one entry and every handshake sees the same steady state.

Three passes per proposal, each on fresh managers after a short warm-up:

1. clean:   perf_counter around each setup, nothing else: IKE_SA/s and total µs.
2. wrapped: the crypto entry points (key exchange, keymat, prf, SK seal/open,
            PSK, NAT-D SHA-1, constant-time compare) timed by thin wrappers:
            the cryptographic floor per IKE_SA.
3. profile: cProfile over the setups only.  Own time is charged to the module
            that spent it (builtins and stdlib to their callers): crypto
            (ikepy.crypto except proposals.py, ikepy.auth, cryptography), codec
            (ikepy.wire), harness (simulate.py, this script) and engine (the
            rest of ikepy).  The non-crypto time of pass 1 (total - floor) is
            split between codec, engine and harness in cProfile's proportions.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import os
import pstats
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from ikepy.config import load_config_text
from ikepy.dataplane.memory import MemoryBackend
from ikepy.ikev2.ike_sa import ESTABLISHED
from ikepy.ikev2.manager import IkeManager
from ikepy.ikev2.simulate import Network

PSK = "Xq7vR2pL9zWtKd4mH8sNb3Jc6fYe"

# short name -> (IKE proposal, ESP proposal)
SUITES: dict[str, tuple[str, str]] = {
    "x25519": ("aes256gcm16-prfsha256-x25519", "aes256gcm16"),
    "ecp256": ("aes128-sha256-ecp256", "aes128-sha256"),
    "modp3072": ("aes256-sha384-modp3072", "aes256-sha384"),
}

LEFT, RIGHT = "10.99.0.1", "10.99.0.2"


def conf(me: str, peer: str, my_id: str, peer_id: str, local_ts: str, remote_ts: str,
         ike: str, esp: str) -> str:
    return f"""
connections {{
  net {{
    local_addrs = {me}
    remote_addrs = {peer}
    proposals = {ike}
    local {{ auth = psk
            id = {my_id} }}
    remote {{ auth = psk
             id = {peer_id} }}
    children {{
      net {{ local_ts = {local_ts}
             remote_ts = {remote_ts}
             esp_proposals = {esp} }}
    }}
  }}
}}
secrets {{ ike-1 {{ id-1 = {my_id}
                   id-2 = {peer_id}
                   secret = "{PSK}" }} }}
"""


@dataclass
class Pair:
    net: Network
    left: IkeManager
    right: IkeManager


def make_pair(ike: str, esp: str) -> Pair:
    lcfg = load_config_text(conf(LEFT, RIGHT, "left", "right", "10.1.0.0/24", "10.2.0.0/24",
                                 ike, esp)).config
    rcfg = load_config_text(conf(RIGHT, LEFT, "right", "left", "10.2.0.0/24", "10.1.0.0/24",
                                 ike, esp)).config
    net = Network()
    left, right = IkeManager(lcfg, MemoryBackend()), IkeManager(rcfg, MemoryBackend())
    net.attach(LEFT, left)
    net.attach(RIGHT, right)
    return Pair(net, left, right)


def _up(mgr: IkeManager) -> bool:
    # cheap on purpose: list_sas() builds dicts and would be charged to the engine
    return any(sa.state == ESTABLISHED and sa.children for sa in mgr.sas.values())


def handshake(p: Pair, prof: cProfile.Profile | None = None) -> tuple[float, float]:
    """One setup and teardown; returns (setup, teardown) seconds."""
    net, left, right = p.net, p.left, p.right
    if prof is not None:
        prof.enable()
    t0 = time.perf_counter()
    left.initiate("net", None, net.now)
    net.run(until=lambda: _up(left) and _up(right))
    t1 = time.perf_counter()
    if prof is not None:
        prof.disable()
    if not (_up(left) and _up(right)):
        raise SystemExit(f"handshake failed: {left.events()} / {right.events()}")
    left.terminate_ike("net", net.now)
    net.run(until=lambda: not left.sas and not right.sas)
    t2 = time.perf_counter()
    if left.sas or right.sas:
        raise SystemExit("teardown failed")
    # the test doubles keep a log of everything; forget it so nothing grows
    for mgr in (left, right):
        mgr.events()
        mgr.backend.log.clear()
    return t1 - t0, t2 - t1


def run_pass(suite: str, count: int, warmup: int,
             prof: cProfile.Profile | None = None) -> tuple[Pair, list[float], list[float]]:
    p = make_pair(*SUITES[suite])
    for _ in range(warmup):
        handshake(p)
    setups, downs = [], []
    for _ in range(count):
        s, d = handshake(p, prof)
        setups.append(s)
        downs.append(d)
    return p, setups, downs


# ------------------------------------------------------------- crypto wrappers
class _TimedHash:
    """cryptography's hashes.Hash behind methods CryptoTimer can wrap."""

    def __init__(self, algorithm: Any) -> None:
        from cryptography.hazmat.primitives import hashes

        self._h = hashes.Hash(algorithm)

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def finalize(self) -> bytes:
        return self._h.finalize()


class CryptoTimer:
    """Times the outermost call into any wrapped crypto entry point."""

    def __init__(self) -> None:
        self.total = 0.0
        self.calls = 0
        self.by_name: dict[str, float] = defaultdict(float)
        self._depth = 0
        self._undo: list[tuple[Any, str, Any]] = []

    def _wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        timer = self
        clock = time.perf_counter

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if timer._depth:
                return fn(*args, **kwargs)
            timer._depth = 1
            t0 = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                dt = clock() - t0
                timer._depth = 0
                timer.total += dt
                timer.calls += 1
                timer.by_name[name] += dt

        return wrapper

    def patch(self, owner: Any, attr: str, label: str) -> None:
        original = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)
        self._undo.append((owner, attr, original))
        if attr == "hashes":  # a module: swap in one whose Hash is timed
            setattr(owner, attr, SimpleNamespace(Hash=_TimedHash, SHA1=original.SHA1))
            return
        setattr(owner, attr, self._wrap(label, original))

    def install(self) -> None:
        from cryptography.hazmat.primitives import constant_time

        from ikepy.crypto import ke, prf, sk
        from ikepy.ikev2 import child_sa
        from ikepy.ikev2.tasks import ike_auth, ike_init

        for cls in (sk.SkCipher,):
            for meth in ("__init__", "seal", "open"):
                self.patch(cls, meth, f"sk.SkCipher.{meth.strip('_')}")
        for meth in ("__init__", "compute", "plus"):
            self.patch(prf.Prf, meth, f"prf.Prf.{meth.strip('_')}")
        for cls in (ke._ModpOpenSsl, ke._ModpPow, ke._Ecp, ke._Montgomery):
            self.patch(cls, "__init__", "ke keypair")
            self.patch(cls, "shared_secret", "ke shared_secret")
        # module-level names bound at import time: patch where the engine looks them up
        self.patch(ike_init, "derive_ike_keys", "keymat.derive_ike_keys")
        self.patch(child_sa, "derive_child_keys", "keymat.derive_child_keys")
        self.patch(ike_auth, "psk_auth_data", "auth.psk_auth_data")
        # NAT-D: time the SHA-1 only, not the address parsing around it
        self.patch(_TimedHash, "__init__", "NAT-D SHA-1")
        self.patch(_TimedHash, "update", "NAT-D SHA-1")
        self.patch(_TimedHash, "finalize", "NAT-D SHA-1")
        self.patch(ike_init, "hashes", "")
        self.patch(constant_time, "bytes_eq", "constant_time.bytes_eq")

    def uninstall(self) -> None:
        for owner, attr, original in reversed(self._undo):
            setattr(owner, attr, original)
        self._undo.clear()


# ---------------------------------------------------------- profile analysis
HERE = os.path.abspath(__file__)
Func = tuple[str, int, str]


def file_category(func: Func) -> str | None:
    filename, _, name = func
    path = filename.replace("\\", "/")
    if filename == "~":
        return "crypto" if "cryptography" in name else None
    if path == HERE or path.endswith("/ikepy/ikev2/simulate.py"):
        return "harness"
    if "/ikepy/wire/" in path:
        return "codec"
    if "/ikepy/crypto/proposals.py" in path:
        return "engine"  # negotiation logic, no cryptography
    if "/ikepy/crypto/" in path or "/ikepy/auth/" in path or "/cryptography/" in path:
        return "crypto"
    if "/ikepy/" in path:
        return "engine"
    return None  # stdlib, generated code: charged to its callers


def charge(stats: dict[Func, Any]) -> dict[Func, dict[Func, float]]:
    """For each function, which ikepy/crypto/harness functions its own time is charged to.

    Code we can name (file_category not None) keeps its own time; stdlib, builtins
    and generated code are charged to their callers in proportion to the time
    each caller spent in them, recursively, up to the first nameable caller.
    """
    memo: dict[Func, dict[Func, float]] = {}

    def dist(func: Func, seen: frozenset[Func]) -> dict[Func, float]:
        if func in memo:
            return memo[func]
        if file_category(func) is not None:
            memo[func] = {func: 1.0}
            return memo[func]
        callers = stats[func][4] if func in stats else {}
        callers = {c: v for c, v in callers.items() if c not in seen}
        if not callers:
            return {func: 1.0}
        weight = {c: v[2] for c, v in callers.items()}
        total = sum(weight.values())
        if total <= 0:
            weight = {c: float(v[0]) for c, v in callers.items()}
            total = sum(weight.values()) or 1.0
        out: dict[Func, float] = defaultdict(float)
        for c, w in weight.items():
            for target, f in dist(c, seen | {func}).items():
                out[target] += f * w / total
        memo[func] = dict(out)
        return memo[func]

    return {f: dist(f, frozenset()) for f in stats}


def func_label(func: Func) -> str:
    filename, line, name = func
    if filename == "~":
        return name
    path = filename.replace("\\", "/")
    for anchor in ("/src/ikepy/", "/site-packages/", "/benchmarks/"):
        if anchor in path:
            path = path.split(anchor, 1)[1]
            if anchor == "/src/ikepy/":
                path = "ikepy/" + path
            break
    else:
        path = os.path.basename(path)
    return f"{path}:{line}({name})"


@dataclass
class Profiled:
    by_cat: dict[str, float] = field(default_factory=dict)  # seconds per SA, profiled
    # (charged seconds per SA, calls per SA, category, function), biggest first
    top: list[tuple[float, float, str, str]] = field(default_factory=list)


def analyse(prof: cProfile.Profile, count: int, top: int) -> Profiled:
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    charged: dict[Func, float] = defaultdict(float)
    for func, targets in charge(stats).items():
        tt = stats[func][2]
        for target, f in targets.items():
            charged[target] += tt * f / count
    by_cat: dict[str, float] = defaultdict(float)
    rows = []
    for func, t in charged.items():
        cat = file_category(func) or "engine"
        by_cat[cat] += t
        if cat != "crypto":
            rows.append((t, stats[func][1] / count if func in stats else 0.0, cat,
                         func_label(func)))
    rows.sort(reverse=True)
    return Profiled(dict(by_cat), rows[:top])


# ---------------------------------------------------------------------- main
@dataclass
class Result:
    suite: str
    rate: float         # count / sum of setup times
    mean_us: float
    p50_us: float       # median setup: the figure the split below is based on
    crypto_us: float    # median crypto time per setup
    codec_us: float
    engine_us: float
    harness_us: float
    down_us: float      # median INFORMATIONAL delete, not part of the setup
    crypto_calls: float
    crypto_detail: dict[str, float]
    profiled: Profiled
    profile_p50_us: float
    scale: float        # clean / profiled non-crypto time
    tables: dict[str, int]
    cpu_share: float    # process CPU time / wall time during the clean pass


def table_sizes(p: Pair) -> dict[str, int]:
    """Everything that could grow per SA, summed over both managers (0 is steady)."""
    out: dict[str, int] = defaultdict(int)
    for mgr in (p.left, p.right):
        out["sas"] += len(mgr.sas)
        out["by_spi"] += len(mgr.by_spi)
        out["half_open"] += len(mgr.half_open)
        out["backend.sas"] += len(mgr.backend.sas)
        out["spis"] += len(mgr.backend.allocated_spis)
        out["events"] += len(mgr._events)
    out["in_flight"] = len(p.net.link.in_flight)
    return dict(out)


def median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return (s[(n - 1) // 2] + s[n // 2]) / 2


def crypto_pass(suite: str, count: int, warmup: int) -> tuple[list[float], float,
                                                                 dict[str, float]]:
    """Pass 2: per-setup crypto seconds, crypto calls per setup, µs per entry point."""
    timer = CryptoTimer()
    timer.install()
    per_setup: list[float] = []
    calls = 0
    detail: dict[str, float] = defaultdict(float)
    try:
        p = make_pair(*SUITES[suite])
        for _ in range(warmup):
            handshake(p)
        for _ in range(count):
            c0, n0, d0 = timer.total, timer.calls, dict(timer.by_name)
            p.left.initiate("net", None, p.net.now)
            p.net.run(until=lambda: _up(p.left) and _up(p.right))
            per_setup.append(timer.total - c0)
            calls += timer.calls - n0
            for k, v in timer.by_name.items():
                detail[k] += v - d0.get(k, 0.0)
            p.left.terminate_ike("net", p.net.now)
            p.net.run(until=lambda: not p.left.sas and not p.right.sas)
            for mgr in (p.left, p.right):
                mgr.events()
                mgr.backend.log.clear()
    finally:
        timer.uninstall()
    return per_setup, calls / count, {k: v / count * 1e6 for k, v in detail.items()}


def bench(suite: str, count: int, pcount: int, warmup: int, top: int) -> Result:
    # 1: clean
    c0, w0 = time.process_time(), time.perf_counter()
    pair, setups, downs = run_pass(suite, count, warmup)
    cpu_share = (time.process_time() - c0) / (time.perf_counter() - w0)
    tables = table_sizes(pair)
    # 2: crypto entry points wrapped
    crypto_setups, calls, detail = crypto_pass(suite, count, warmup)
    # 3: cProfile over the setups
    prof = cProfile.Profile()
    _, psetups, _ = run_pass(suite, pcount, warmup, prof)
    prof_res = analyse(prof, pcount, top)

    total, crypto = median(setups), median(crypto_setups)
    noncrypto = max(total - crypto, 0.0)
    parts = {k: prof_res.by_cat.get(k, 0.0) for k in ("codec", "engine", "harness")}
    psum = sum(parts.values()) or 1.0
    return Result(
        suite=suite, rate=count / sum(setups), mean_us=sum(setups) / count * 1e6,
        p50_us=total * 1e6, crypto_us=crypto * 1e6,
        codec_us=noncrypto * parts["codec"] / psum * 1e6,
        engine_us=noncrypto * parts["engine"] / psum * 1e6,
        harness_us=noncrypto * parts["harness"] / psum * 1e6,
        down_us=median(downs) * 1e6, crypto_calls=calls, crypto_detail=detail,
        profiled=prof_res, profile_p50_us=median(psetups) * 1e6, scale=noncrypto / psum,
        tables=tables, cpu_share=cpu_share,
    )


def report(results: list[Result], count: int, pcount: int, top: int) -> None:
    print(f"IKE_SA setup (IKE_SA_INIT + IKE_AUTH, PSK, one CHILD_SA) between two in-memory "
          f"engines, {count} handshakes per suite\n")
    cols = ("suite", "IKE_SA/s", "mean", "p50", "crypto", "codec", "engine", "harness",
            "delete")
    print(f"{cols[0]:9}" + "".join(f"{c:>9}" for c in cols[1:]) + "   cpu/wall")
    print(f"{'':9}{'':>9}" + "".join(f"{'µs':>9}" for _ in cols[2:]))
    print("-" * 94)
    for r in results:
        vals = (r.mean_us, r.p50_us, r.crypto_us, r.codec_us, r.engine_us, r.harness_us,
                r.down_us)
        print(f"{r.suite:9}{r.rate:9.0f}" + "".join(f"{v:9.0f}" for v in vals)
              + f"   {r.cpu_share:7.0%}")
    print("""
  IKE_SA/s   handshakes / sum of setup times (initiate() until both ends are ESTABLISHED
             with the CHILD_SA; both engines run on this one thread)
  p50        median setup; crypto, codec, engine and harness add up to it:
  crypto     median time inside the crypto entry points per setup (the floor)
  codec ...  p50 - crypto, split in cProfile's proportions: ikepy.wire / the rest of
             ikepy / simulate.py + this script (the simulated network)
  delete     median INFORMATIONAL delete that follows each setup (not in the setup)
  cpu/wall   under 100% means other processes took the CPU: figures are inflated""")
    for r in results:
        ike, esp = SUITES[r.suite]
        print(f"\n[{r.suite}] {ike} / esp {esp}")
        det = sorted(r.crypto_detail.items(), key=lambda kv: -kv[1])
        print(f"  crypto floor, µs/SA (mean, {r.crypto_calls:.0f} calls): "
              + ", ".join(f"{k} {v:.0f}" for k, v in det))
        pc = r.profiled.by_cat
        print(f"  under cProfile ({pcount} setups, p50 {r.profile_p50_us:.0f} µs/SA), µs/SA: "
              + ", ".join(f"{k} {pc.get(k, 0.0) * 1e6:.0f}"
                          for k in ("crypto", "codec", "engine", "harness")))
        print(f"  top {top} outside crypto by own time (stdlib and builtins charged to their "
              f"ikepy caller):")
        print(f"    {'profiled':>8} {'~clean':>7} {'calls':>6}")
        print(f"    {'µs/SA':>8} {'µs/SA':>7} {'/SA':>6}")
        for t, nc, cat, label in r.profiled.top:
            print(f"    {t * 1e6:8.1f} {t * r.scale * 1e6:7.1f} {nc:6.0f}  {cat:7} {label}")
        steady = ", ".join(f"{k} {v}" for k, v in r.tables.items())
        print(f"  left in the tables after {count} setup+delete cycles: {steady}")
    first = results[0]
    eng = first.codec_us + first.engine_us
    print(f"\nhandshake: {first.rate:.0f} IKE_SA/s ({first.suite}), engine {eng / 1000:.2f} ms "
          f"+ crypto {first.crypto_us / 1000:.2f} ms per IKE_SA")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=300, help="handshakes per suite and pass")
    ap.add_argument("--profile-count", type=int, default=None,
                    help="handshakes under cProfile (default: --count, at most 300)")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--suite", action="append", choices=list(SUITES),
                    help="repeatable; default: all three")
    ap.add_argument("--top", type=int, default=10)
    args = ap.parse_args(argv)
    suites = args.suite or list(SUITES)
    pcount = args.profile_count or min(args.count, 300)
    t0 = time.perf_counter()
    results = []
    for suite in suites:
        print(f"  {suite}: {args.count} handshakes x 3 passes ...", file=sys.stderr, flush=True)
        results.append(bench(suite, args.count, pcount, args.warmup, args.top))
    report(results, args.count, pcount, args.top)
    print(f"  ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
