"""CLI: ``python -m ringcx_dev.faultproxy TARGET [--port N] [--latency S] [--latency-of OP=S]``.

Serves until SIGINT/SIGTERM; prints ``faultproxy listening on URL -> TARGET``
first, so a parent process can read the URL and drive it via /_faultproxy/.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Sequence
from types import FrameType

from .proxy import FaultProxy
from .request import Classifier, aws_operation, path_group
from .state import check_latency

CLASSIFIERS: dict[str, Classifier] = {"aws": aws_operation, "path": path_group}


def _operation_latency(text: str) -> tuple[str, float]:
    operation, sep, seconds = text.partition("=")
    if not sep or not operation:
        raise argparse.ArgumentTypeError(f"expected OPERATION=SECONDS, got {text!r}")
    try:
        return operation, check_latency(float(seconds))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _latency(text: str) -> float:
    try:
        return check_latency(float(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ringcx_dev.faultproxy",
        description="Loopback fault-and-latency proxy in front of one target URL",
    )
    parser.add_argument("target", help="base URL to forward to, e.g. http://127.0.0.1:5000")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--classify",
        choices=sorted(CLASSIFIERS),
        default="aws",
        help="name calls by AWS operation (aws) or by simulator path group (path)",
    )
    parser.add_argument("--latency", type=_latency, default=0.0, help="seconds added to every call")
    parser.add_argument(
        "--latency-of",
        type=_operation_latency,
        action="append",
        default=[],
        metavar="OP=SECONDS",
        help="seconds added to one operation (repeatable; wins over --latency)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    stop = threading.Event()

    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    proxy = FaultProxy(args.target, CLASSIFIERS[args.classify])
    proxy.set_latency(args.latency)
    for operation, seconds in args.latency_of:
        proxy.set_latency(seconds, operation)
    url = proxy.start(host=args.host, port=args.port)
    print(f"faultproxy listening on {url} -> {proxy.target}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        proxy.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
