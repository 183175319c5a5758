"""AWS-like latency on loopback: FaultProxies in front of moto, the simulator
and the Lambda API, and the round trips counted there.

Why: on loopback a Secrets Manager call costs well under a millisecond, so a
cold path that makes six sequential calls looks as cheap as one that makes
one. On AWS each costs 10-30 ms. Both sides of every comparison are pointed
at the same proxies, so they pay the same latency per round trip, and the
proxies count the round trips each side makes.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from ringcx_dev.faultproxy import INVOKE, FaultProxy, aws_operation, path_group

AUTH_GROUPS = ("rc_token", "rcx_exchange", "rcx_refresh")


@dataclass(frozen=True, slots=True)
class Latency:
    """Seconds added per round trip; all zero is plain loopback."""

    secrets: float = 0.020
    invoke: float = 0.030
    ringcx: float = 0.100

    @property
    def mode(self) -> str:
        return "latency" if any((self.secrets, self.invoke, self.ringcx)) else "loopback"

    def describe(self) -> str:
        if self.mode == "loopback":
            return "loopback, no latency injected"
        return (
            f"Secrets Manager {self.secrets * 1000:g} ms, Lambda Invoke "
            f"{self.invoke * 1000:g} ms, RingCX {self.ringcx * 1000:g} ms per round trip"
        )

    def to_json(self) -> dict[str, float]:
        return {
            "secrets_manager_ms": self.secrets * 1000,
            "lambda_invoke_ms": self.invoke * 1000,
            "ringcx_ms": self.ringcx * 1000,
        }


LOOPBACK = Latency(0.0, 0.0, 0.0)


def closed_url() -> str:
    """A loopback URL nothing listens on: a target whose every call fails (502)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@dataclass(frozen=True, slots=True)
class RoundTrips:
    """Calls seen at the proxies between two snapshots."""

    secrets: Counter[str]
    invoke: int
    ringcx: Counter[str]
    errors: int = 0  # calls answered with an error status or dropped, at any proxy

    @property
    def secrets_total(self) -> int:
        return sum(self.secrets.values())

    @property
    def ringcx_auth(self) -> int:
        return sum(self.ringcx[g] for g in AUTH_GROUPS)

    def __sub__(self, other: RoundTrips) -> RoundTrips:
        return RoundTrips(
            self.secrets - other.secrets,
            self.invoke - other.invoke,
            self.ringcx - other.ringcx,
            self.errors - other.errors,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "secrets_manager": self.secrets_total,
            "secrets_manager_by_operation": dict(self.secrets),
            "lambda_invoke": self.invoke,
            "ringcx": sum(self.ringcx.values()),
            "ringcx_by_endpoint": dict(self.ringcx),
            "errors": self.errors,
        }


class Proxies:
    """One FaultProxy per remote service, each adding its latency."""

    def __init__(self, secrets: FaultProxy, ringcx: FaultProxy, invoke: FaultProxy) -> None:
        self.secrets = secrets
        self.ringcx = ringcx
        self.invoke = invoke

    def apply(self, latency: Latency) -> None:
        self.secrets.set_latency(latency.secrets)
        self.ringcx.set_latency(latency.ringcx)
        self.invoke.set_latency(0.0)
        self.invoke.set_latency(latency.invoke, INVOKE)

    def snapshot(self) -> RoundTrips:
        everything = [p.records() for p in (self.secrets, self.ringcx, self.invoke)]
        return RoundTrips(
            Counter(r.operation for r in everything[0]),
            self.invoke.calls(INVOKE),
            Counter(r.operation for r in everything[1]),
            sum(1 for records in everything for r in records if not 200 <= r.status < 300),
        )

    def reset(self) -> None:
        for proxy in (self.secrets, self.ringcx, self.invoke):
            proxy.reset_counters()

    def aws_env(self) -> dict[str, str]:
        """What points plain boto3 in a child process at the proxies."""
        return {
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.secrets.url,
            "AWS_ENDPOINT_URL_LAMBDA": self.invoke.url,
        }


@contextmanager
def proxies(secrets_url: str, ringcx_url: str, lambda_url: str | None = None) -> Iterator[Proxies]:
    """Proxies in front of moto, the simulator and a Lambda API (``None``: a
    target that refuses, for runs that must make no Invoke at all)."""
    with ExitStack() as stack:
        started = Proxies(
            stack.enter_context(FaultProxy(secrets_url, aws_operation)),
            stack.enter_context(FaultProxy(ringcx_url, path_group)),
            stack.enter_context(FaultProxy(lambda_url or closed_url(), aws_operation)),
        )
        yield started
