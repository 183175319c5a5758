"""The proxy against generated API Gateway events: sound shapes with hostile
text, odd types in every field, and payloads that are not API events at all."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from hypothesis import event, given

from tests.fuzz.strategies import api_events, direct_invokes
from tests.fuzz.worlds import (
    assert_api_reply,
    assert_direct_reply,
    assert_discreet,
    assert_inside_voice_api,
    proxy_world,
)


@given(api_events)
def test_proxy_any_api_event_is_answered_below_500_without_leaks(api_event: dict[str, Any]) -> None:
    # Given a proxy whose upstream reflects the bearer and refresh tokens
    world = proxy_world()
    # When it serves any event API Gateway (or a forger) can deliver
    reply = world.app.handle(api_event, None)
    # Then the reply is well formed and below 500, with no trace and no token,
    # and anything forwarded stayed under RingCX's /voice/api/ with an allowed method
    if "httpMethod" not in api_event:  # no longer an API event: the direct-invoke error
        assert_direct_reply(reply)
        assert reply["statusCode"] == HTTPStatus.BAD_REQUEST
    else:
        status = assert_api_reply(reply)
        event(f"HTTP {status}, forwarded {len(world.pool.sent)}")
        if status == HTTPStatus.BAD_REQUEST:
            event(f"HTTP 400: {reply['body'][:60]}")
    assert_discreet(reply, world.secrets)
    for sent in world.pool.sent:
        assert_inside_voice_api(sent)


@given(direct_invokes)
def test_proxy_direct_invoke_is_the_direct_invoke_error(payload: Any) -> None:
    # Given anything JSON can hold, invoked directly
    world = proxy_world()
    # When the proxy handles it
    reply = world.app.handle(payload, None)
    # Then it is a clear refusal (ok false, 400, or a 400 API reply for a half-shaped
    # event), never a forward
    assert world.pool.sent == []
    assert_discreet(reply, world.secrets)
    assert reply.get("statusCode") == HTTPStatus.BAD_REQUEST
