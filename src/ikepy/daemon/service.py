"""The `ikepy daemon` process: config, engine, data plane, runtime, control socket, signals.

A thin composition of the parts; the CLI's ``daemon`` command calls
``load_daemon_config`` (to exit 2 on a bad file before anything starts) and
then ``Daemon(...).run()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import ipaddress
import logging
import os
import platform
import signal
from typing import Any

from ikepy import __version__
from ikepy.control.server import CommandError, ControlServer, Emit
from ikepy.daemon.runtime import InitiateError, Runtime
from ikepy.daemon.udp import source_for

log = logging.getLogger("ikepy.daemon")

SHUTDOWN_GRACE = 3.0
DATAPLANES = ("userspace", "xfrm", "none")


def load_daemon_config(path: str) -> tuple[Any, list[Any]]:
    """(config, warnings) from the file; raises config.ConfigError naming file:line: key: problem."""
    loaded = importlib.import_module("ikepy.config").load_config(path)
    return loaded.config, list(loaded.warnings)


def config_error_type() -> type[Exception]:
    err: type[Exception] = getattr(importlib.import_module("ikepy.config"), "ConfigError", None) or \
        importlib.import_module("ikepy.config.errors").ConfigError
    return err


def config_local_addresses(config: Any) -> list[str]:
    """The local IPs to bind: those of every connection, or [] (wildcard) if any is %any or a name."""
    addrs: list[str] = []
    conns = getattr(config, "connections", {}) or {}
    for conn in conns.values() if hasattr(conns, "values") else conns:
        local = getattr(conn, "local_addrs", None) or ("%any",)
        for text in local:
            try:
                ip = str(ipaddress.ip_address(str(text)))
            except ValueError:
                return []  # %any, a DNS name or a range: listen on every address
            if ip not in addrs:
                addrs.append(ip)
    return addrs


def build_backend(kind: str, send_udp: Any, on_event: Any = None, udp_sender: Any = None) -> Any:
    if kind == "userspace":
        from ikepy.dataplane.userspace.backend import UserspaceBackend

        return UserspaceBackend(send_udp=send_udp, on_event=on_event, udp_sender=udp_sender)
    if kind == "xfrm":  # Linux kernel IPsec over netlink (needs root and ESP in the kernel)
        from ikepy.dataplane.xfrm import XfrmBackend

        return XfrmBackend(on_event=on_event)
    if kind == "none":
        from ikepy.dataplane.memory import MemoryBackend

        return MemoryBackend()
    raise ValueError(f"unknown data plane {kind!r} (choose from {', '.join(DATAPLANES)})")


def build_manager(config: Any, backend: Any, port: int, port_nat_t: int,
                  engine_options: dict[str, Any] | None = None, name: str = "") -> Any:
    """The sans-I/O engine with the daemon's ports and the operator's tuning."""
    from ikepy.ikev2.manager import IkeManager
    from ikepy.ikev2.options import ManagerOptions

    options = ManagerOptions(ike_port=port, nat_t_port=port_nat_t, **(engine_options or {}))
    return IkeManager(config, backend, options=options, source_for=source_for, name=name)


def jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    if hasattr(value, "__dataclass_fields__"):
        import dataclasses

        return {k: jsonable(v) for k, v in dataclasses.asdict(value).items()}
    return str(value)


class DaemonCommands:
    """The control commands, against one Runtime (and a reload function)."""

    def __init__(self, runtime: Runtime, reload: Any = None, initiate_timeout: float = 30.0) -> None:
        self.runtime = runtime
        self.reload = reload
        self.initiate_timeout = initiate_timeout

    async def __call__(self, cmd: str, args: dict[str, Any], emit: Emit) -> Any:
        mgr = self.runtime.manager
        if cmd == "list-sas":
            return self.runtime.list_sas()
        if cmd == "list-conns":
            return mgr.list_conns()
        if cmd == "stats":
            return self.stats()
        if cmd == "version":
            return {"version": __version__, "python": platform.python_version()}
        if cmd == "load":
            if self.reload is None:
                raise CommandError("this daemon has no configuration file to load")
            return self.reload()
        if cmd == "initiate":
            return await self.initiate(args, emit)
        if cmd == "terminate":
            return self.terminate(args)
        raise CommandError(f"unknown command {cmd!r}")

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.runtime.manager.stats())
        out.update({f"daemon.{k}": v for k, v in self.runtime.stats().items()})
        backend_stats = getattr(self.runtime.backend, "stats", None)
        if backend_stats is not None:
            out.update({f"dataplane.{k}": v for k, v in backend_stats().items()})
        return out

    async def initiate(self, args: dict[str, Any], emit: Emit) -> Any:
        child = args.get("child")
        if not isinstance(child, str) or not child:
            raise CommandError("initiate needs a child name (--child NAME)")
        ike = args.get("ike")
        if ike is not None and not isinstance(ike, str):
            raise CommandError("\"ike\" must be a connection name")
        timeout = args.get("timeout", self.initiate_timeout)
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
            raise CommandError("\"timeout\" must be a positive number of seconds")
        try:
            ev = await self.runtime.initiate(child, ike, float(timeout), progress=emit)
        except InitiateError as exc:
            raise CommandError(str(exc)) from None
        except (KeyError, ValueError, LookupError) as exc:
            raise CommandError(_words(exc)) from None
        return {"child": child, "ike": getattr(ev, "ike_name", ike)}

    def terminate(self, args: dict[str, Any]) -> Any:
        ike, child = args.get("ike"), args.get("child")
        if (ike is None) == (child is None):
            raise CommandError("terminate needs exactly one of --ike NAME or --child NAME")
        name = ike if ike is not None else child
        if not isinstance(name, str | int) or isinstance(name, bool):
            raise CommandError("the name to terminate must be a string")
        try:
            if ike is not None:
                result = self.runtime.terminate_ike(str(name))
            else:
                result = self.runtime.terminate_child(str(name))
        except (KeyError, ValueError, LookupError) as exc:
            raise CommandError(_words(exc)) from None
        return jsonable(result)


def _words(exc: BaseException) -> str:
    # KeyError's str() is the repr of its argument; show the text itself
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc)


class Daemon:
    def __init__(
        self,
        config_path: str,
        config: Any,
        *,
        socket_path: str,
        dataplane: str = "userspace",
        port: int = 500,
        port_nat_t: int = 4500,
        initiate_timeout: float = 30.0,
        addresses: list[str] | None = None,
        engine_options: dict[str, Any] | None = None,
        drop_privileges: bool = True,
    ) -> None:
        self.engine_options = engine_options or {}
        self.drop_privileges = drop_privileges
        self.config_path = config_path
        self.config = config
        self.socket_path = socket_path
        self.dataplane = dataplane
        self.port = port
        self.port_nat_t = port_nat_t
        self.initiate_timeout = initiate_timeout
        self.addresses = addresses if addresses is not None else config_local_addresses(config)
        self._stop: asyncio.Event | None = None

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT; 0 after a clean shutdown, 1 when startup failed."""
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        runtime: Runtime | None = None

        def send_udp(data: bytes, src: Any, dst: Any) -> None:
            if runtime is not None:
                runtime.send_udp(data, src, dst)

        def on_event(kind: str, reqid: int) -> None:
            if runtime is not None:
                runtime.dataplane_event(kind, reqid)

        def udp_sender(src: Any, dst: Any) -> Any:
            return runtime.udp_sender(src, dst) if runtime is not None else None

        try:
            backend = build_backend(self.dataplane, send_udp, on_event, udp_sender)
        except Exception as exc:  # noqa: BLE001 - words for the operator, then exit
            log.error("cannot start the %s data plane: %s", self.dataplane, exc)
            return 1
        manager = build_manager(self.config, backend, self.port, self.port_nat_t,
                                self.engine_options)
        runtime = Runtime(manager, backend, addresses=self.addresses, port=self.port,
                          port_nat_t=self.port_nat_t)
        commands = DaemonCommands(runtime, self.reload, self.initiate_timeout)
        self.runtime = runtime
        server = ControlServer(self.socket_path, commands)
        try:
            await runtime.start()
            await server.start()
        except OSError as exc:
            log.error("%s", exc.strerror or exc)
            await server.close()
            await runtime.stop()
            return 1
        if self.drop_privileges:
            self._drop_capabilities(backend)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_stop_signal, sig)
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        log.info("ikepy %s running (pid %d); %d connection(s) loaded", __version__,
                 os.getpid(), len(getattr(self.config, "connections", {}) or {}))
        try:
            await self._stop.wait()
            log.info("shutting down: deleting every SA")
            with contextlib.suppress(Exception):
                await runtime.shutdown(SHUTDOWN_GRACE)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(sig)
            await server.close()
            await runtime.stop(close_backend=True)
        log.info("stopped")
        return 0

    @staticmethod
    def _drop_capabilities(backend: Any) -> None:
        """Sockets and devices are open: keep CAP_NET_ADMIN, _RAW and _BIND_SERVICE only."""
        from ikepy.daemon import privileges

        why = privileges.drop_capabilities()
        on_threads = getattr(backend, "run_on_threads", None)
        if why is None and on_threads is not None:
            for result in on_threads(privileges.drop_capabilities):
                why = why or result
        if why is None and privileges.threads_above():
            why = "a thread kept more capabilities"
        if why is None:
            log.info("dropped every capability but CAP_NET_ADMIN, CAP_NET_RAW and "
                     "CAP_NET_BIND_SERVICE")
        else:
            log.warning("kept all capabilities: %s", why)

    def request_stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    def _on_stop_signal(self, sig: int) -> None:
        log.info("received %s", signal.Signals(sig).name)
        self.request_stop()

    def _on_sighup(self) -> None:
        log.info("received SIGHUP: reloading %s", self.config_path)
        try:
            self.reload()
        except CommandError as exc:
            log.error("%s", exc)

    def reload(self) -> Any:
        """Re-read the file and hand it to the engine; CommandError (nothing applied) on a bad file."""
        try:
            config, warnings = load_daemon_config(self.config_path)
        except config_error_type() as exc:
            raise CommandError(f"configuration not loaded, the old one stays active:\n{exc}") from None
        except OSError as exc:
            raise CommandError(f"cannot read {self.config_path}: {exc.strerror or exc}") from None
        for w in warnings:
            log.warning("%s", w)
        summary = self.runtime.manager.load(config)
        self.config = config
        self.runtime.pump()
        log.info("loaded %s: %s", self.config_path, summary)
        return jsonable(summary)
