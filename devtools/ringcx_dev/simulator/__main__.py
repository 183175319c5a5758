"""CLI: `python -m ringcx_dev.simulator --port 8081` serves until SIGINT/SIGTERM.

Every flag sets the SimConfig field of the same name (dashes for underscores), so
a local run can start in a hostile mood, e.g. `--dead-refresh-reply 200-html
--no-retry-after-header --latency 0.1`; the rest can be changed later through
`POST /_sim/config`.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Final

from .config import DEAD_REFRESH_BODIES, EXCHANGE_DENIED_STATUSES, SimConfig
from .simulator import Simulator

CONFIG_FLAGS: Final = (
    "client_id",
    "client_secret",
    "jwt",
    "token_lifetime",
    "rc_token_lifetime",
    "rate_limit",
    "rate_window",
    "retry_after",
    "max_rc_sessions",
    "expired_message",
    "clock_skew",
    "exchange_denied_status",
    "dead_refresh_reply",
    "retry_after_header",
    "penalty_restarts",
    "rate_limit_headers",
    "session_quota_429",
    "latency",
)
"""SimConfig fields the command line can set."""

_HELP: Final = {
    "expired_message": 'plain-text body of the expired-token 401 (or "JWT is expired.")',
    "clock_skew": "seconds RingCX rejects tokens before their exp",
    "exchange_denied_status": "403/404: the exchange says the user has no RingCX access",
    "dead_refresh_reply": f'"400".."599" or one of {", ".join(DEAD_REFRESH_BODIES)}',
    "retry_after_header": "send Retry-After on 429s",
    "penalty_restarts": "each request during the auth penalty restarts it",
    "rate_limit_headers": "send X-Rate-Limit-* headers on auth replies",
    "session_quota_429": "429 on a login beyond max_rc_sessions instead of evicting one",
    "latency": "real seconds before every non-control reply",
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options; defaults match SimConfig."""
    defaults = SimConfig()
    parser = argparse.ArgumentParser(
        prog="python -m ringcx_dev.simulator", description="RingCentral + RingCX simulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    for name in CONFIG_FLAGS:
        default = getattr(defaults, name)
        flag = "--" + name.replace("_", "-")
        help_text = _HELP.get(name)
        if isinstance(default, bool):
            parser.add_argument(
                flag, default=default, action=argparse.BooleanOptionalAction, help=help_text
            )
        elif name == "exchange_denied_status":
            parser.add_argument(
                flag, type=int, default=default, choices=EXCHANGE_DENIED_STATUSES, help=help_text
            )
        else:
            parser.add_argument(flag, type=type(default), default=default, help=help_text)
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """The SimConfig the parsed flags describe; raises ValueError on invalid values."""
    return SimConfig(**{name: getattr(args, name) for name in CONFIG_FLAGS})


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until a signal arrives, then stop cleanly and return 0."""
    args = parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        raise SystemExit(f"python -m ringcx_dev.simulator: {exc}") from None
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
