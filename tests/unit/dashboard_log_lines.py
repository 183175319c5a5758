"""Provoke every log line the template's metric filters count, and let them print.

Run as a fresh process with POWERTOOLS_SERVICE_NAME set (test_dashboard_filters
does): Powertools names the layer's child loggers after the service when each
module is first imported, so only a fresh process logs exactly as a deployed
function does, one JSON object per line on stdout.
"""

from __future__ import annotations

import contextlib
from typing import Any

from aws_lambda_powertools import Logger

from ringcx_broker import exchange
from ringcx_broker.errors import BadRequest, RateLimited, SecretStoreUnavailable, TokenPersistFailed
from ringcx_broker.proxy.token_source import RefreshOutcome, TokenSource
from ringcx_broker.timing import TimingPolicy
from ringcx_broker.tokens import StoredToken
from ringcx_broker.write_budget import WriteBudget
from tests.unit.core.fakes import T0, FakeClock, RecordingSleep, client_error, make_grant
from tests.unit.core.fakes import make_token as token_at
from tests.unit.proxy.fakes import FakeInvoker

logger = Logger()  # the handler's logger: the layer's child loggers print through it


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

    def _read(self) -> StoredToken | None:
        if self.broken:
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


def exchange_failures() -> None:
    """503, 429, 400 and a crash: the filters must tell them apart."""
    for error in (
        SecretStoreUnavailable("Secrets Manager did not answer"),
        RateLimited("an exchange stored a generation moments ago", 30),
        BadRequest("rcAccessToken must be a non-empty string"),
        RuntimeError("a bug"),
    ):
        exchange.handle({}, FailingExchanger(error))


def exchange_stores() -> None:
    """A login stored, and one that could not be."""
    exchange.store_grant(WritableRing(None), make_grant(), T0, "login")
    with contextlib.suppress(TokenPersistFailed):
        exchange.store_grant(FlakyRing(None), make_grant(), T0, "login")


def write_budget_unchecked() -> None:
    budget = WriteBudget(NoVersionListing(), ["slot-0"], TimingPolicy())
    budget.check(300.0, "the exchange")


def proxy_short_of_a_fresh_token() -> None:
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


if __name__ == "__main__":
    exchange_failures()
    exchange_stores()
    write_budget_unchecked()
    proxy_short_of_a_fresh_token()
