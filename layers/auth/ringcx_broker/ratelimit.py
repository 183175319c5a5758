"""Auth rate-limit penalties, honoured across the whole stack.

RingCentral's auth penalty (60 s) restarts with every request sent while it
runs, so a single stray request from another function keeps the whole stack
locked out. After a 429 (or a 503 with ``Retry-After``), every call to that
endpoint fails fast with ``RateLimited`` until the penalty ends, and no
request reaches upstream.

Two memories: this container's (free), and one shared by the exchange and
refresher functions, kept as tags on the credentials secret. Tags are state
the stack already has that cost no secret version, so sharing a penalty
never spends the Secrets Manager write quota. The shared memory is read at
most once per ``SHARED_READ_TTL`` and only before an auth call, which happens
a few times per token lifetime.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from ringcx_broker.errors import RateLimited
from ringcx_broker.timing import Clock, system_clock

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

logger = Logger(child=True)

TAG_PREFIX = "ringcx-broker:penalty:"
CALLS_PREFIX = "ringcx-broker:recent-calls:"  # when a container's calls were failing
SHARED_READ_TTL = 1.0  # seconds: one DescribeSecret serves a whole login


class PenaltyStore(Protocol):
    """Where the stack's functions share the end of each running penalty."""

    def load(self) -> Mapping[str, float]: ...

    def save(self, endpoint: str, until: float) -> None: ...


class CallLog(Protocol):
    """Where a container leaves the times of its recent calls to an endpoint
    while they fail, so a container that replaces it (a recycle) counts them
    against the same per-minute budget."""

    def recent_calls(self, endpoint: str) -> list[float]: ...

    def save_calls(self, endpoint: str, times: list[float]) -> None: ...


class SecretTagPenalties:
    """Penalty ends (``ringcx-broker:penalty:<endpoint>`` = epoch seconds) and
    failing calls' times (``ringcx-broker:recent-calls:<endpoint>``) as tags
    on one secret. A failure to read or write them is logged and the
    container's own memory still applies: they are an optimisation of the
    limits' hygiene, never a reason to fail a login. One read serves both
    for ``SHARED_READ_TTL``, so a cold refresher pays one DescribeSecret."""

    def __init__(
        self, client: SecretsManagerClient, secret_id: str, clock: Clock = system_clock
    ) -> None:
        self._client = client
        self._secret_id = secret_id
        self._clock = clock
        self._read: tuple[float, dict[str, str]] | None = None

    def load(self) -> Mapping[str, float]:
        ends: dict[str, float] = {}
        for key, value in self._tags().items():
            if key.startswith(TAG_PREFIX):
                try:
                    ends[key.removeprefix(TAG_PREFIX)] = float(value)
                except ValueError:
                    continue
        return ends

    def save(self, endpoint: str, until: float) -> None:
        self._tag(TAG_PREFIX + endpoint, str(int(until + 0.999)), "Shared auth penalty not saved")

    def recent_calls(self, endpoint: str) -> list[float]:
        try:
            return [float(t) for t in self._tags().get(CALLS_PREFIX + endpoint, "").split()]
        except ValueError:
            return []

    def save_calls(self, endpoint: str, times: list[float]) -> None:
        value = " ".join(f"{t:.3f}" for t in times[-8:])  # a tag value holds 256 characters
        self._tag(CALLS_PREFIX + endpoint, value, "Shared auth call times not saved")

    def _tags(self) -> dict[str, str]:
        now = self._clock()
        if self._read is not None and now - self._read[0] < SHARED_READ_TTL:
            return self._read[1]
        try:
            tags = self._client.describe_secret(SecretId=self._secret_id).get("Tags", [])
        except (ClientError, BotoCoreError) as exc:
            logger.warning("Shared auth state unreadable", extra={"error": _name(exc)})
            return {}
        read = {t.get("Key", ""): t.get("Value", "") for t in tags}
        self._read = (now, read)
        return read

    def _tag(self, key: str, value: str, failure: str) -> None:
        self._read = None  # our own write makes the last read stale
        try:
            self._client.tag_resource(SecretId=self._secret_id, Tags=[{"Key": key, "Value": value}])
        except (ClientError, BotoCoreError) as exc:
            logger.warning(failure, extra={"error": _name(exc)})


class RateGate:
    """``check`` before an auth call, ``penalise`` after its 429."""

    def __init__(self, clock: Clock = system_clock, shared: PenaltyStore | None = None) -> None:
        self._clock = clock
        self._shared = shared
        self._until: dict[str, float] = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def check(self, endpoint: str, service: str) -> None:
        now = self._clock()
        with self._lock:
            if self._shared is not None and now - self._loaded_at >= SHARED_READ_TTL:
                self._loaded_at = now
                for name, until in self._shared.load().items():
                    self._until[name] = max(self._until.get(name, 0.0), until)
            wait = self._until.get(endpoint, 0.0) - now
        if wait > 0:
            seconds = max(1, int(wait + 0.999))
            raise RateLimited(f"{service} rate limit reached; retry after {seconds} s", seconds)

    def penalise(self, endpoint: str, retry_after: int) -> None:
        until = self._clock() + retry_after
        with self._lock:
            self._until[endpoint] = until  # the latest answer is what counts
        if self._shared is not None:
            self._shared.save(endpoint, until)


def _name(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "") or type(exc).__name__
    return type(exc).__name__
