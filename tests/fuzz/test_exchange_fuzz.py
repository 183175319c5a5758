"""The exchange against generated bodies: API Gateway events to /auth/exchange
(JSON, forms, base64, deep and huge documents, odd types) and direct invokes
(the documented shapes, and anything JSON can hold)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import pytest
from hypothesis import event, given

from ringcx_broker.exchange import handle
from tests.fuzz.strategies import exchange_api_events, exchange_direct_invokes
from tests.fuzz.worlds import (
    EXCHANGE_URL,
    ExchangeWorld,
    assert_api_reply,
    assert_direct_reply,
    assert_discreet,
    exchange_world,
)
from tests.unit.core.fakes import FakeClock


@pytest.mark.parametrize(
    "payload",
    [{"rcAccessToken": "\ud800"}, {"rcAccessToken": "rc-token\udfff", "rcTokenType": "Bearer"}],
    ids=["alone", "suffix"],
)
def test_exchange_direct_invoke_lone_surrogate_token_is_400(payload: dict[str, Any]) -> None:
    # Given the JSON a direct invoke may carry ("\ud800" decodes to a lone surrogate), which
    # this suite found reaching urlencode as a 500
    world = exchange_world()
    # When the exchange handles it
    reply = handle(payload, world.exchanger, FakeClock())
    # Then it is refused as a bad request, and RingCX is never called
    assert reply["ok"] is False
    assert reply["statusCode"] == HTTPStatus.BAD_REQUEST
    assert world.pool.requests == []


def _check_upstream(world: ExchangeWorld) -> None:
    """At most the one RingCX exchange call, to RingCX's exchange URL."""
    assert [r.url for r in world.pool.requests] in ([], [EXCHANGE_URL])
    assert {r.method for r in world.pool.requests} <= {"POST"}


@given(exchange_api_events)
def test_exchange_any_api_event_is_answered_below_500_without_leaks(
    api_event: dict[str, Any],
) -> None:
    # Given an exchange whose RingCX and JWT login both work
    world = exchange_world()
    # When any /auth/exchange event arrives
    reply = handle(api_event, world.exchanger, FakeClock())
    # Then a JSON reply below 500, with no trace and no token, and RingCX saw at
    # most the exchange itself
    if "httpMethod" in api_event and "requestContext" in api_event:
        status = assert_api_reply(reply)
    else:
        assert_direct_reply(reply)
        status = reply.get("statusCode", HTTPStatus.OK)
    event(f"HTTP {status}")
    assert_discreet(reply, world.secrets)
    _check_upstream(world)


@given(exchange_direct_invokes)
def test_exchange_any_direct_invoke_is_ok_or_a_4xx_without_leaks(payload: Any) -> None:
    world = exchange_world()
    reply = handle(payload, world.exchanger, FakeClock())
    assert_direct_reply(reply)
    event("ok" if reply.get("ok") else f"ok false, {reply['statusCode']}")
    assert_discreet(reply, world.secrets)
    _check_upstream(world)
