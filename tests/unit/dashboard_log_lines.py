"""Provoke every log line the template's metric filters count, and let them print.

Run as a fresh process with POWERTOOLS_SERVICE_NAME set (test_dashboard_filters
does): Powertools names the layer's child loggers after the service when each
module is first imported, so only a fresh process logs exactly as a deployed
function does, one JSON object per line on stdout.

Each scenario's lines are followed by a marker line ``## <scenario> <n>``
(not JSON, so no filter reads it), where n is how many ring reads failed in
it: the test checks that the ring-read filter counts each of them once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from ringcx_broker import exchange
from ringcx_broker.errors import BadRequest, RateLimited, SecretStoreUnavailable, TokenPersistFailed
from ringcx_broker.proxy.app import ProxyApp
from ringcx_broker.proxy.forward import Upstream
from ringcx_broker.proxy.token_source import RefreshOutcome, TokenSource
from ringcx_broker.settings import Settings
from ringcx_broker.timing import TimingPolicy
from ringcx_broker.tokens import StoredToken
from ringcx_broker.write_budget import WriteBudget, WriteBudgetExceeded
from tests.unit.core.fakes import T0, FakeClock, RecordingSleep, client_error, make_grant
from tests.unit.core.fakes import make_token as token_at
from tests.unit.proxy.fakes import (
    THROTTLED,
    FakeInvoker,
    FakeOriginPool,
    load_event,
    upstream_response,
)

logger = Logger()  # the handler's logger: the layer's child loggers print through it

ORIGIN = "https://engage.ringcentral.com"
MARKER = "## "


class FailingExchanger:
    def __init__(self, error: Exception) -> None:
        self._error = error

    def exchange(self, rc_access_token: str | None, replace_account: bool = False) -> Any:
        raise self._error


class FlakyRing:
    """Holds one token; reads fail once ``broken`` is set, writes always fail."""

    def __init__(self, token: StoredToken | None) -> None:
        self.token = token
        self.broken = False
        self.failed_reads = 0

    def _read(self) -> StoredToken | None:
        if self.broken:
            self.failed_reads += 1
            raise SecretStoreUnavailable("Secrets Manager did not answer")
        return self.token

    def newest(self) -> StoredToken | None:
        return self._read()

    def newer_than(self, known: StoredToken, enough: Any = None) -> StoredToken:
        return self._read() or known

    def slot_of(self, generation: int) -> str:
        return f"slot-{generation % 6}"

    def read_slot(self, slot_id: str) -> StoredToken | None:
        return self._read()

    def store(self, token: StoredToken) -> StoredToken:
        raise SecretStoreUnavailable("Secrets Manager did not answer")


class WritableRing(FlakyRing):
    def store(self, token: StoredToken) -> StoredToken:
        self.token = token
        return token


class NoVersionListing:
    def list_secret_version_ids(self, **request: Any) -> Any:
        raise client_error("InternalServiceError", "ListSecretVersionIds", status=500)


def exchange_failures() -> int:
    """503, 429 (cooldown), 429 (write budget), 400 and a crash: the filters
    must tell them apart."""
    for error in (
        SecretStoreUnavailable("Secrets Manager did not answer"),
        RateLimited("an exchange stored a generation moments ago", 30),
        WriteBudgetExceeded("the exchange refused: the ring's write budget is spent", 600),
        BadRequest("rcAccessToken must be a non-empty string"),
        RuntimeError("a bug"),
    ):
        exchange.handle({}, FailingExchanger(error))
    return 0


def exchange_stores() -> int:
    """A login stored, and one that could not be."""
    exchange.store_grant(WritableRing(None), make_grant(), T0, "login")
    with contextlib.suppress(TokenPersistFailed):
        exchange.store_grant(FlakyRing(None), make_grant(), T0, "login")
    return 0


def write_budget_unchecked() -> int:
    budget = WriteBudget(NoVersionListing(), ["slot-0"], TimingPolicy())
    budget.check(300.0, "the exchange")
    return 0


def proxy_short_of_a_fresh_token() -> int:
    clock = FakeClock(T0 + 280)  # 20 s of the token's 300 left: stale, still valid
    ring = FlakyRing(token_at(1))
    refresher = FakeInvoker(
        RefreshOutcome(ok=False, message="the refresher failed"),
        RefreshOutcome(ok=True, generation=2),
    )
    source = TokenSource(lambda: ring, refresher, TimingPolicy(), clock, RecordingSleep(clock))
    source.current()  # the refresher does not deliver; the stale token serves
    ring.broken = True
    source.status()  # a health check cannot read the ring
    clock.advance(10)  # past the pause after a failed renewal, before the token's exp
    source.current()  # the ring is unreadable, before and after the refresher rotated
    return ring.failed_reads


class ProxyWorld:
    """A real ``ProxyApp`` over a ring that can break, a scripted refresher and
    a scripted RingCX."""

    def __init__(self, ring: FlakyRing, *refresher: RefreshOutcome) -> None:
        self.clock = FakeClock(T0)
        self.ring = ring
        self.refresher = FakeInvoker(*refresher)
        self.ringcx = FakeOriginPool()
        tokens = TokenSource(
            lambda: ring, self.refresher, TimingPolicy(), self.clock, RecordingSleep(self.clock)
        )
        settings = Settings(ringcx_url=ORIGIN, token_secret_ids=("slot-0",))
        self.app = ProxyApp(settings, tokens, Upstream(ORIGIN, self.ringcx, 5), clock=self.clock)

    def get(self, status: int, body: str = "{}") -> dict[str, Any]:
        self.ringcx.queue(upstream_response(status, body))
        return self.app.handle(load_event("proxy-get-accounts"), None)


def proxy_cold_with_an_unreadable_ring() -> int:
    """No cached token and no ring: the request fails (503) without reaching RingCX."""
    world = ProxyWorld(FlakyRing(token_at(1)))
    world.ring.broken = True
    world.app.handle(load_event("proxy-get-accounts"), None)
    return world.ring.failed_reads


def proxy_unauthorized_with_an_unreadable_ring() -> int:
    """RingCX refuses the cached token; no newer one can be read, so the 401 passes on."""
    world = ProxyWorld(FlakyRing(token_at(1)))
    world.get(200)  # caches generation 1
    world.ring.broken = True
    world.get(401, "Unauthorized")
    return world.ring.failed_reads


def proxy_unreadable_ring_while_the_refresher_is_throttled() -> int:
    """A stale cached token, no ring and a busy refresher: each re-read fails."""
    world = ProxyWorld(FlakyRing(token_at(1)), THROTTLED, THROTTLED, THROTTLED)
    world.get(200)  # caches generation 1
    world.clock.advance(280)  # 20 s left: stale, still valid
    world.ring.broken = True
    world.get(200)  # the stale token serves after every re-read failed
    return world.ring.failed_reads


SCENARIOS: tuple[Callable[[], int], ...] = (
    exchange_failures,
    exchange_stores,
    write_budget_unchecked,
    proxy_short_of_a_fresh_token,
    proxy_cold_with_an_unreadable_ring,
    proxy_unauthorized_with_an_unreadable_ring,
    proxy_unreadable_ring_while_the_refresher_is_throttled,
)


if __name__ == "__main__":
    for scenario in SCENARIOS:
        failed_reads = scenario()
        print(f"{MARKER}{scenario.__name__} {failed_reads}", flush=True)
