"""CLI: `python -m ringcx_dev.simulator --port 8081` serves until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Sequence
from types import FrameType

from .config import SimConfig
from .simulator import Simulator


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options; defaults match SimConfig."""
    defaults = SimConfig()
    parser = argparse.ArgumentParser(
        prog="python -m ringcx_dev.simulator", description="RingCentral + RingCX simulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token-lifetime", type=float, default=defaults.token_lifetime)
    parser.add_argument("--rate-limit", type=int, default=defaults.rate_limit)
    parser.add_argument("--rate-window", type=float, default=defaults.rate_window)
    parser.add_argument("--retry-after", type=int, default=defaults.retry_after)
    parser.add_argument("--client-id", default=defaults.client_id)
    parser.add_argument("--client-secret", default=defaults.client_secret)
    parser.add_argument("--jwt", default=defaults.jwt)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until a signal arrives, then stop cleanly and return 0."""
    args = parse_args(argv)
    config = SimConfig(
        client_id=args.client_id,
        client_secret=args.client_secret,
        jwt=args.jwt,
        token_lifetime=args.token_lifetime,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
        retry_after=args.retry_after,
    )
    stop = threading.Event()

    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    simulator = Simulator(config)
    base_url = simulator.start(host=args.host, port=args.port)
    print(f"simulator listening on {base_url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        simulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
