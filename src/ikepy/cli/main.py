"""The `ikepy` command.

Exit status: 0 success; 1 the operation failed (the daemon said why); 2 bad
usage or a bad configuration file; 3 the daemon cannot be reached. The reason
is always printed in words on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ikepy import __version__
from ikepy.control.client import ControlClient, ControlError, DaemonUnreachable
from ikepy.control.protocol import DEFAULT_SOCKET, SOCKET_ENV, socket_path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (1..65535)")
    return value


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--socket", metavar="PATH", default=argparse.SUPPRESS,
                        help=f"control socket (default ${SOCKET_ENV} or {DEFAULT_SOCKET})")
    parser = argparse.ArgumentParser(prog="ikepy", parents=[common],
                                     description="ikepy: an IKEv2 daemon and its control tool")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("daemon", parents=[common], help="run the IKE daemon in the foreground")
    p.add_argument("--config", required=True, metavar="FILE", help="swanctl.conf or TOML file")
    p.add_argument("--dataplane", choices=("userspace", "xfrm", "none"), default="userspace",
                   help="where ESP happens (none: negotiate only)")
    p.add_argument("--port", type=_port, default=500, help="IKE UDP port (default 500)")
    p.add_argument("--port-nat-t", type=_port, default=4500, dest="port_nat_t",
                   help="NAT-T UDP port (default 4500)")
    p.add_argument("--log-level", choices=("info", "debug"), default="info")
    p.add_argument("--cookie-threshold", type=int, default=30, metavar="N",
                   help="demand a COOKIE once N IKE_SAs are half-open (0: always; default 30)")
    p.add_argument("--retransmit-timeout", type=_positive, default=4.0, metavar="S",
                   help="first retransmission after S seconds (default 4.0, as strongSwan)")
    p.add_argument("--retransmit-tries", type=int, default=5, metavar="N",
                   help="retransmissions before giving up (default 5, as strongSwan)")
    p.add_argument("--keep-capabilities", action="store_true",
                   help="do not drop root's other capabilities after start-up (debugging)")
    p.add_argument("--retransmit-base", type=_positive, default=1.8, metavar="B",
                   help="each retransmission waits B times longer (default 1.8)")
    p.add_argument("--retransmit-jitter", type=float, default=0.0, metavar="PCT",
                   help="shorten each wait by up to PCT percent at random (default 0)")

    p = sub.add_parser("initiate", parents=[common], help="bring a child SA up and wait for it")
    p.add_argument("--child", required=True, metavar="NAME")
    p.add_argument("--ike", metavar="NAME")
    p.add_argument("--timeout", type=_positive, default=30.0, metavar="S",
                   help="give up after S seconds (default 30)")

    p = sub.add_parser("terminate", parents=[common], help="delete an IKE SA or a child SA")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--ike", metavar="NAME")
    g.add_argument("--child", metavar="NAME")

    for name, text in (("list-sas", "show the IKE and child SAs"),
                       ("list-conns", "show the loaded connections"),
                       ("stats", "show the daemon's counters")):
        p = sub.add_parser(name, parents=[common], help=text)
        p.add_argument("--json", action="store_true", help="print the daemon's JSON")
    sub.add_parser("load", parents=[common], help="re-read the daemon's configuration file")
    sub.add_parser("version", parents=[common], help="show the versions of this tool and the daemon")
    p = sub.add_parser("demo", help="a tunnel between two ikepy daemons in network namespaces "
                       "(root), or two peers on loopback: negotiate, show, tear down")
    p.add_argument("--loopback", action="store_true",
                   help="the loopback demo even as root (no namespaces, no traffic)")
    return parser


def setup_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d [%(levelname)s] %(message)s",
                                           datefmt="%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if level == "debug" else logging.INFO)


def fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"ikepy: {message}", file=sys.stderr)
    return code


def run_daemon(args: argparse.Namespace) -> int:
    from ikepy.daemon.service import Daemon, config_error_type, load_daemon_config

    setup_logging(args.log_level)
    try:
        config, warnings = load_daemon_config(args.config)
    except config_error_type() as exc:
        return fail(f"configuration not loaded:\n{exc}", EXIT_USAGE)
    except OSError as exc:
        return fail(f"cannot read {args.config}: {exc.strerror or exc}", EXIT_USAGE)
    for w in warnings:
        logging.getLogger("ikepy.config").warning("%s", w)
    daemon = Daemon(args.config, config, socket_path=socket_path(getattr(args, "socket", None)),
                    dataplane=args.dataplane, port=args.port, port_nat_t=args.port_nat_t,
                    drop_privileges=not args.keep_capabilities,
                    engine_options={"cookie_threshold": args.cookie_threshold,
                                    "retransmit_timeout": args.retransmit_timeout,
                                    "retransmit_tries": args.retransmit_tries,
                                    "retransmit_base": args.retransmit_base,
                                    "retransmit_jitter": args.retransmit_jitter})
    try:
        return asyncio.run(daemon.run())
    except KeyboardInterrupt:
        return EXIT_OK


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False))


def run_client(args: argparse.Namespace) -> int:
    from ikepy.cli.format import format_conns, format_sas, format_stats

    client = ControlClient(getattr(args, "socket", None))
    cmd = args.command
    if cmd == "initiate":
        payload: dict[str, Any] = {"child": args.child, "timeout": args.timeout}
        if args.ike:
            payload["ike"] = args.ike
        data = client.call("initiate", payload, on_log=lambda line: print(line, flush=True),
                           timeout=args.timeout + 5)
        print(f"child '{args.child}' is up" + (f" on '{data['ike']}'" if isinstance(data, dict)
                                                and data.get("ike") else ""))
        return EXIT_OK
    if cmd == "terminate":
        payload = {"ike": args.ike} if args.ike else {"child": args.child}
        data = client.call("terminate", payload)
        what = f"IKE SA '{args.ike}'" if args.ike else f"child SA '{args.child}'"
        print(f"{what}: delete sent" if not data else f"{what}: {data}")
        return EXIT_OK
    if cmd == "load":
        data = client.call("load")
        print(f"configuration loaded: {data}" if data else "configuration loaded")
        return EXIT_OK
    if cmd == "version":
        print(f"ikepy {__version__} (this tool)")
        data = client.call("version")
        print(f"ikepy {data.get('version')} (daemon, Python {data.get('python')})")
        return EXIT_OK
    formatters: dict[str, Callable[[Any], str]] = {
        "list-sas": format_sas, "list-conns": format_conns, "stats": format_stats}
    formatter = formatters[cmd]
    data = client.call(cmd)
    if args.json:
        _print_json(data)
    else:
        print(formatter(data))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "daemon":
        return run_daemon(args)
    if args.command == "demo":
        from ikepy.cli.demo import main as demo_main

        return demo_main(loopback=args.loopback)
    try:
        return run_client(args)
    except DaemonUnreachable as exc:
        return fail(str(exc), EXIT_UNREACHABLE)
    except ControlError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return fail("interrupted", 130)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
