#!/usr/bin/env python3
"""Run the XFRM data plane's in-guest tests in a Linux VM that has kernel ESP.

The machines' kernel has XFRM but no ESP, so kernel IPsec runs in a Debian
kernel booted under QEMU by the testbed's ``kernel-vm.sh`` (virtme-ng; the
guest sees the host's root file system read-only, so this checkout, its Python
and strongSwan are all there). This wrapper finds that script, boots the VM
once and runs ``pytest tests/kernelvm/guest`` inside it; results come back
through ``$KVM_XFRM_DIR/out`` (junit XML and the pytest log).

    python tools/kernel_vm.py                  # run tests/kernelvm/guest
    python tools/kernel_vm.py -- -k gcm        # extra pytest arguments
    python tools/kernel_vm.py --shell 'CMD'    # any shell line in the guest

Where the script is looked for, first match wins: ``$IKEPY_KERNEL_VM_SH``;
``<checkout>/../shared/testbed/kernel-vm.sh`` (CI puts shared/ beside the
checkout); ``/work/shared/testbed/kernel-vm.sh``.
Exit status: the guest's (pytest's) status; 3 when the script is missing.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUEST_TESTS = "tests/kernelvm/guest"
EXIT_NO_VM = 3


def find_script() -> Path | None:
    env = os.environ.get("IKEPY_KERNEL_VM_SH")
    candidates = [Path(env)] if env else []
    try:
        top = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        top = ""
    for base in filter(None, (top, str(ROOT))):
        candidates.append(Path(base).parent / "shared" / "testbed" / "kernel-vm.sh")
    candidates.append(Path("/work/shared/testbed/kernel-vm.sh"))
    for c in candidates:
        if c.is_file():
            return c
    return None


def work_dir() -> Path:
    return Path(os.environ.get("KVM_XFRM_DIR", "/tmp/kernel-vm"))


def snapshot() -> Path:
    """A copy of src/, tests/ and tools/ for the guest to run: the VM run takes
    minutes, and the checkout may change under it meanwhile (and the guest
    cannot write .pyc files into it: they are compiled here, up front)."""
    dest = work_dir() / "snapshot"
    if dest.exists():
        shutil.rmtree(dest)
    ignore = shutil.ignore_patterns(".venv", ".git", "*.pyc", ".pytest_cache", ".hypothesis")
    for part in ("src", "tests", "tools"):
        shutil.copytree(ROOT / part, dest / part, ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")
    subprocess.run([sys.executable, "-m", "compileall", "-q", "src", "tests", "tools"],
                   cwd=dest, capture_output=True, check=False)
    return dest


def guest_command(pytest_args: list[str], tree: Path | None = None) -> str:
    out = work_dir() / "out"
    tree = tree or snapshot()
    py = shlex.quote(sys.executable)
    args = " ".join(shlex.quote(a) for a in pytest_args)
    # pytest's output goes to the console *and* to out/pytest.log (the only
    # folder that reaches the host); its status is the guest's exit status
    src = shlex.quote(str(tree / "src"))
    return (f"export IKEPY_IN_KERNEL_VM=1 PYTHONUNBUFFERED=1 PYTHONPATH={src}; "
            f"cd {shlex.quote(str(tree))} && "
            f"{py} -m pytest -p no:cacheprovider -o addopts='' --import-mode=importlib -ra "
            f"--junitxml={shlex.quote(str(out / 'junit.xml'))} {GUEST_TESTS} {args} "
            f"> >(tee {shlex.quote(str(out / 'pytest.log'))}) 2>&1; rc=$?; sleep 0.2; "
            f"echo \"== guest pytest exit status $rc\"; exit $rc")


def run_vm(shell_line: str, timeout: float | None = None) -> tuple[int, str, float]:
    """(exit status, combined output, seconds) of one VM boot running ``shell_line``."""
    script = find_script()
    if script is None:
        return EXIT_NO_VM, "kernel-vm.sh not found (set IKEPY_KERNEL_VM_SH)", 0.0
    (work_dir() / "out").mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    # QEMU reopens stdout and stderr separately: they must be pipes, not one file
    proc = subprocess.Popen([str(script), "--run", shell_line], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True, errors="replace",
                            start_new_session=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if timeout is None:
                sys.stdout.write(line)
                sys.stdout.flush()
            if timeout is not None and time.monotonic() - t0 > timeout:
                raise subprocess.TimeoutExpired(proc.args, timeout)
        rc = proc.wait(timeout=max(1.0, (timeout or 3600) - (time.monotonic() - t0)))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()
        raise
    return rc, "".join(lines), time.monotonic() - t0


def record_duration(secs: float) -> None:
    """Remember how long a boot + run took (the host-side test's budget check reads it)."""
    try:
        (work_dir() / "last_duration").write_text(f"{secs:.1f}\n")
    except OSError:
        pass


def last_duration() -> float | None:
    try:
        return float((work_dir() / "last_duration").read_text())
    except (OSError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shell", metavar="CMD", help="run CMD in the guest instead of the tests")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = p.parse_args(argv)
    line = args.shell if args.shell else guest_command(args.pytest_args)
    rc, _out, secs = run_vm(line)
    record_duration(secs)
    print(f"== kernel_vm.py: boot + run took {secs:.1f}s, exit status {rc}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
