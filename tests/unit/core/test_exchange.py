"""exchange.py: a posted RC token or the stored JWT becomes the ring's next generation."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest

from ringcx_broker.errors import (
    BrokerError,
    CredentialsNotConfigured,
    NoRingCXAccess,
    RateLimited,
    RingWriteConflict,
    SecretStoreUnavailable,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from ringcx_broker.exchange import Exchanger, handle, store_grant
from ringcx_broker.ring import TokenRing, request_token
from ringcx_broker.timing import TimingPolicy
from ringcx_broker.tokens import StoredToken
from ringcx_broker.write_budget import WriteBudget
from tests.unit.core.conftest import seed, slot_token
from tests.unit.core.fakes import (
    FakeClock,
    FakeLogin,
    FakeRingCX,
    FakeSecretsManager,
    make_grant,
    make_token,
)

EVENTS = Path(__file__).parents[3] / "events"
RC_TOKEN = "RC_ACCESS_TOKEN"  # what the events/ files carry
PUT = "put_secret_value"
INTERNAL = {"message": "internal error; see the broker's logs"}


def load_event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


def api_event(body: str | None, content_type: str | None = "application/json") -> dict[str, Any]:
    """The repo's real-shaped API event with another body."""
    event: dict[str, Any] = load_event("exchange-api-json.json")
    event["body"] = body
    event["isBase64Encoded"] = False
    event["headers"] = {"content-type": content_type} if content_type else {}
    return event


Handler = Callable[[Any], dict[str, Any]]


@pytest.fixture
def exchanger(ring: TokenRing, ringcx: FakeRingCX, login: FakeLogin, clock: FakeClock) -> Exchanger:
    return Exchanger(ring, ringcx.client, login, clock)


@pytest.fixture
def handler(exchanger: Exchanger, clock: FakeClock) -> Handler:
    """``handle`` as the function calls it: with the exchanger and the clock."""
    return lambda event: handle(event, exchanger, clock)


def body_of(reply: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(reply["body"])
    return body


def assert_no_tokens(reply: dict[str, Any], ringcx: FakeRingCX) -> None:
    rendered = json.dumps(reply)
    for grant in ringcx.issued:
        assert grant.access_token not in rendered
        assert str(grant.refresh_token) not in rendered
    assert RC_TOKEN not in rendered


# -- API Gateway events -----------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        load_event("exchange-api-json.json"),
        load_event("exchange-api-form.json"),
        api_event(json.dumps({"rcAccessToken": RC_TOKEN})),
        api_event(
            f"rcAccessToken={RC_TOKEN}&rcTokenType=Bearer", "application/x-www-form-urlencoded"
        ),
        api_event(json.dumps({"rcAccessToken": f"  {RC_TOKEN}\n"})),
    ],
    ids=["json-base64", "form-base64", "json-text", "form-text", "padded-token"],
)
def test_exchange_handle_api_event_with_rc_token_stores_and_returns_summary(
    event: dict[str, Any],
    handler: Handler,
    ringcx: FakeRingCX,
    login: FakeLogin,
    secrets: FakeSecretsManager,
    ring: TokenRing,
) -> None:
    # Given an empty ring and a caller posting an RC access token
    # When the exchange handles the request
    reply = handler(event)

    # Then the RC token is exchanged (not the JWT login) and stored as generation 1
    assert reply["statusCode"] == HTTPStatus.OK
    assert reply["headers"]["Content-Type"] == "application/json"
    body = body_of(reply)
    assert body["ok"] is True
    assert body["generation"] == 1
    assert body["source"] == "exchange"
    assert body["accountIds"] == ["15300002"]
    assert body["secondsLeft"] == 300
    assert ringcx.exchange_calls == [RC_TOKEN]
    assert login.calls == 0
    stored = slot_token(secrets, ring.slot_of(1))
    assert stored is not None
    assert stored.refresh_token == ringcx.issued[-1].refresh_token
    # And the reply carries no token of any kind
    assert_no_tokens(reply, ringcx)


@pytest.mark.parametrize(
    "event",
    [
        load_event("exchange-api-empty.json"),
        api_event(""),
        api_event("   "),
        api_event(base64.b64encode(b"").decode()),
    ],
    ids=["no-body", "empty", "blank", "empty-base64"],
)
def test_exchange_handle_api_event_with_empty_body_logs_in_with_stored_jwt(
    event: dict[str, Any], handler: Handler, ringcx: FakeRingCX, login: FakeLogin
) -> None:
    # Given an empty request body
    # When the exchange handles it
    reply = handler(event)

    # Then it is a stored-JWT login, stored as the next generation
    assert reply["statusCode"] == HTTPStatus.OK
    assert body_of(reply)["source"] == "login"
    assert login.calls == 1
    assert ringcx.exchange_calls == []
    assert_no_tokens(reply, ringcx)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (load_event("exchange-api-malformed.json"), "must be JSON or application/x-www-form"),
        (api_event('{"rcAccessToken": '), "must be JSON or application/x-www-form"),
        (api_event("[]"), "must be a JSON object"),
        (api_event(json.dumps([RC_TOKEN])), "must be a JSON object"),
        (api_event(json.dumps(RC_TOKEN)), "must be a JSON object"),
        (api_event("42"), "must be a JSON object"),
        (
            api_event(json.dumps({"rcAccessToken": 12345})),
            "rcAccessToken must be a non-empty string",
        ),
        (api_event(json.dumps({"rcAccessToken": ""})), "rcAccessToken must be a non-empty string"),
        (
            api_event(json.dumps({"rcAccessToken": "   "})),
            "rcAccessToken must be a non-empty string",
        ),
        (
            api_event(json.dumps({"rcAccessToken": [RC_TOKEN]})),
            "rcAccessToken must be a non-empty string",
        ),
        (
            api_event(json.dumps({"rcAccessToken": True})),
            "rcAccessToken must be a non-empty string",
        ),
        (api_event("rcAccessToken=", "application/x-www-form-urlencoded"), "rcAccessToken must be"),
        ({**api_event("not base64!"), "isBase64Encoded": True}, "not valid base64"),
        (api_event("not json", "application/x-www-form-urlencoded"), "fields the exchange"),
        (api_event("rcTokenType=Bearer", "application/x-www-form-urlencoded"), "without rcAccess"),
        (api_event(json.dumps({"token": RC_TOKEN})), "fields the exchange does not know"),
        (api_event(json.dumps({"rcAccessToken": RC_TOKEN, "x": 1})), "fields the exchange"),
        (api_event("[" * 20_000 + "]" * 20_000), "must be JSON"),
        (api_event("null"), "must be a JSON object"),
    ],
    ids=[
        "malformed-event-file",
        "truncated-json",
        "empty-array",
        "array",
        "string",
        "number",
        "token-number",
        "token-empty",
        "token-blank",
        "token-list",
        "token-bool",
        "form-token-empty",
        "bad-base64",
        "curl-default-form",
        "form-without-token",
        "json-other-field",
        "json-extra-field",
        "deeply-nested-json",
        "json-null",
    ],
)
def test_exchange_handle_api_event_with_bad_body_returns_400_without_side_effects(
    event: dict[str, Any],
    message: str,
    handler: Handler,
    ringcx: FakeRingCX,
    login: FakeLogin,
    secrets: FakeSecretsManager,
) -> None:
    # Given a request body the contract does not accept
    # When the exchange handles it
    reply = handler(event)

    # Then it is a 400 with a readable message, and nothing upstream or in the ring happened
    assert reply["statusCode"] == HTTPStatus.BAD_REQUEST
    assert message in body_of(reply)["message"]
    assert ringcx.exchange_calls == []
    assert login.calls == 0
    assert secrets.calls == []


def test_exchange_handle_api_event_with_null_rc_token_returns_400(
    handler: Handler, login: FakeLogin
) -> None:
    # Given a caller whose RC token variable was unset: {"rcAccessToken": null}
    event = api_event(json.dumps({"rcAccessToken": None}))

    # When the exchange handles it
    reply = handler(event)

    # Then it is refused as "not a string", rather than spending a JWT login
    assert reply["statusCode"] == HTTPStatus.BAD_REQUEST
    assert login.calls == 0


@pytest.mark.parametrize(
    ("failure", "status", "retry_after"),
    [
        (
            RateLimited("RingCX rate limit reached; retry after 42 s", 42),
            HTTPStatus.TOO_MANY_REQUESTS,
            "42",
        ),
        (UpstreamUnavailable("RingCX failed with HTTP 503"), HTTPStatus.BAD_GATEWAY, None),
        (UpstreamTimeout("RingCX did not answer in time"), HTTPStatus.GATEWAY_TIMEOUT, None),
        (NoRingCXAccess("the RingCentral user has no RingCX access"), HTTPStatus.FORBIDDEN, None),
    ],
    ids=["rate-limited", "unavailable", "timeout", "no-ringcx-access"],
)
def test_exchange_handle_api_event_upstream_failure_maps_to_status(
    failure: BrokerError,
    status: HTTPStatus,
    retry_after: str | None,
    handler: Handler,
    ringcx: FakeRingCX,
) -> None:
    # Given RingCX failing the exchange
    ringcx.then(failure)

    # When a caller posts an RC token
    reply = handler(load_event("exchange-api-json.json"))

    # Then the contract's status comes back, with Retry-After on a 429
    assert reply["statusCode"] == status
    assert reply["headers"].get("Retry-After") == retry_after
    assert body_of(reply)["message"] == failure.message


def test_exchange_handle_api_event_rejected_rc_token_returns_401(
    handler: Handler, ringcx: FakeRingCX, secrets: FakeSecretsManager
) -> None:
    # Given RingCX refusing the posted RC token
    ringcx.rejected_rc_tokens.add(RC_TOKEN)

    # When the caller posts it
    reply = handler(load_event("exchange-api-json.json"))

    # Then it is a 401 that does not echo the token, and nothing is stored
    assert reply["statusCode"] == HTTPStatus.UNAUTHORIZED
    assert RC_TOKEN not in reply["body"]
    assert secrets.count(PUT) == 0


def test_exchange_handle_api_event_empty_body_without_credentials_returns_503(
    handler: Handler, login: FakeLogin
) -> None:
    # Given no stored credentials
    login.error = CredentialsNotConfigured(
        "RingCentral credentials are not configured: secret creds is empty; "
        "put client_id, client_secret, jwt in it"
    )

    # When an empty body asks for a stored-JWT login
    reply = handler(load_event("exchange-api-empty.json"))

    # Then it is a 503 naming the missing credentials
    assert reply["statusCode"] == HTTPStatus.SERVICE_UNAVAILABLE
    assert "client_id, client_secret, jwt" in body_of(reply)["message"]


def test_exchange_handle_api_event_secret_store_down_returns_503(
    handler: Handler, secrets: FakeSecretsManager
) -> None:
    # Given Secrets Manager refusing reads
    secrets.fail("get_secret_value", "ThrottlingException", times=10)

    # When a caller posts an RC token
    reply = handler(load_event("exchange-api-json.json"))

    # Then it is a 503
    assert reply["statusCode"] == HTTPStatus.SERVICE_UNAVAILABLE


@pytest.mark.parametrize("api", [True, False], ids=["api", "direct"])
def test_exchange_handle_unexpected_exception_returns_500_without_trace(
    api: bool, handler: Handler, ringcx: FakeRingCX, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a bug that raises with a token in its message
    ringcx.then(RuntimeError(f"kaboom while handling {RC_TOKEN}"))
    event = load_event("exchange-api-json.json" if api else "exchange-direct-rc-token.json")

    # When the exchange handles a request
    with caplog.at_level(logging.DEBUG):
        reply = handler(event)

    # Then the caller gets a bare 500, and neither reply nor logs carry the detail
    if api:
        assert reply["statusCode"] == HTTPStatus.INTERNAL_SERVER_ERROR
        assert body_of(reply) == INTERNAL
    else:
        assert reply == {"ok": False, "statusCode": 500, **INTERNAL}
    rendered = json.dumps(reply) + " ".join(f"{r.getMessage()} {vars(r)!r}" for r in caplog.records)
    assert "kaboom" not in rendered
    assert "Traceback" not in rendered
    assert RC_TOKEN not in rendered


# -- direct invokes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "source"),
    [
        (load_event("exchange-direct-jwt.json"), "login"),
        (None, "login"),
        (load_event("exchange-direct-rc-token.json"), "exchange"),
    ],
    ids=["empty-object", "null", "rc-token"],
)
def test_exchange_handle_direct_invoke_returns_ok_summary(
    event: Any, source: str, handler: Handler, ringcx: FakeRingCX
) -> None:
    # Given a direct invoke ({} or {"rcAccessToken": ...})
    # When it is handled
    reply = handler(event)

    # Then the reply is the summary itself, with ok=true and no tokens
    assert reply["ok"] is True
    assert reply["source"] == source
    assert reply["generation"] == 1
    assert "statusCode" not in reply
    assert_no_tokens(reply, ringcx)


@pytest.mark.parametrize(
    "event", ["rcAccessToken", [RC_TOKEN], 42], ids=["string", "list", "number"]
)
def test_exchange_handle_direct_invoke_not_an_object_returns_400(
    event: Any, handler: Handler
) -> None:
    # Given a direct invoke that is not an object
    # When it is handled
    reply = handler(event)

    # Then it is an ok=false 400 telling the caller the accepted shapes
    assert reply["ok"] is False
    assert reply["statusCode"] == HTTPStatus.BAD_REQUEST
    assert '{"rcAccessToken": "..."}' in reply["message"]


def test_exchange_handle_direct_invoke_failure_returns_ok_false(
    handler: Handler, ringcx: FakeRingCX
) -> None:
    # Given RingCX refusing the RC token
    ringcx.rejected_rc_tokens.add(RC_TOKEN)

    # When it is invoked directly
    reply = handler(load_event("exchange-direct-rc-token.json"))

    # Then the reply is {"ok": false, "statusCode": 401, "message": ...}
    assert reply["ok"] is False
    assert reply["statusCode"] == HTTPStatus.UNAUTHORIZED
    assert RC_TOKEN not in reply["message"]


# -- store_grant ------------------------------------------------------------------


def test_store_grant_existing_ring_writes_next_generation(
    ring: TokenRing, secrets: FakeSecretsManager, clock: FakeClock
) -> None:
    # Given a ring whose newest generation is 3
    seed(secrets, ring, make_token(2), make_token(3))

    # When a login is stored
    token = store_grant(ring, make_grant(clock(), refresh_token="rt-login"), clock(), "login")

    # Then it becomes generation 4, a new independent chain
    assert token.generation == 4
    assert token.refresh_token == "rt-login"
    assert slot_token(secrets, ring.slot_of(4)) == token


def test_store_grant_lost_race_stores_after_the_winner(
    ring: TokenRing, secrets: FakeSecretsManager, clock: FakeClock
) -> None:
    # Given a ring at generation 3, and another writer storing 4 just before our put
    seed(secrets, ring, make_token(3))
    theirs = make_token(4, refresh_token="rt-theirs")
    slot = ring.slot_of(4)
    secrets.before_next(
        PUT,
        lambda: secrets.external_put(
            slot, theirs.to_secret_string(), request_token(4, secrets.current_version(slot))
        ),
    )

    # When our login is stored
    ours = store_grant(ring, make_grant(clock(), refresh_token="rt-ours"), clock(), "exchange")

    # Then theirs is kept and ours follows as generation 5
    assert slot_token(secrets, slot) == theirs
    assert ours.generation == 5
    assert slot_token(secrets, ring.slot_of(5)) == ours


def test_store_grant_ring_keeps_changing_raises_conflict(
    ring: TokenRing, secrets: FakeSecretsManager, clock: FakeClock
) -> None:
    # Given other writers landing a new generation before each of our puts
    def other_writer(generation: int) -> None:
        slot = ring.slot_of(generation)
        secrets.external_put(
            slot,
            make_token(generation, refresh_token=f"rt-other-{generation}").to_secret_string(),
            request_token(generation, secrets.current_version(slot)),
        )

    secrets.before_next(PUT, lambda: other_writer(1))
    secrets.before_next(PUT, lambda: other_writer(2))

    # When our login is stored
    with pytest.raises(RingWriteConflict) as caught:
        store_grant(ring, make_grant(clock()), clock(), "login")

    # Then it gives up after two tries with a 409 the caller can retry
    assert caught.value.status == HTTPStatus.CONFLICT
    assert "kept changing" in caught.value.message
    assert secrets.count(PUT) == 2


def test_exchange_handle_persist_failure_returns_503(
    handler: Handler, secrets: FakeSecretsManager
) -> None:
    # Given Secrets Manager refusing every write
    secrets.fail(PUT, "ThrottlingException", times=10)

    # When a caller posts an RC token
    reply = handler(load_event("exchange-api-json.json"))

    # Then it is a 503 from the secret store, with no token in it
    assert reply["statusCode"] == SecretStoreUnavailable.status
    assert "could not write token generation 1" in body_of(reply)["message"]


def test_exchange_exchanger_stored_token_is_what_readers_see(
    exchanger: Exchanger, ring: TokenRing
) -> None:
    # Given an empty ring
    # When an RC token is exchanged
    token = exchanger.exchange(RC_TOKEN)

    # Then a cold reader finds exactly that token as the newest
    assert isinstance(token, StoredToken)
    assert ring.newest() == token


# -- who may switch the account, and how often ----------------------------------------


OTHER_ACCOUNT = {"mainAccountId": "2002", "adminId": "77"}


def test_exchange_login_for_another_account_is_409_and_writes_nothing(
    exchanger: Exchanger, ringcx: FakeRingCX, secrets: FakeSecretsManager, clock: FakeClock
) -> None:
    # Given a chain pinned by its first login
    first = exchanger.exchange(RC_TOKEN)
    clock.advance(120)

    # When a posted RC token yields another RingCX account
    ringcx.reply_extra = OTHER_ACCOUNT
    writes = secrets.count(PUT)
    with pytest.raises(BrokerError) as caught:
        exchanger.exchange(RC_TOKEN)

    # Then it is refused with 409, and the chain is untouched
    assert caught.value.status == HTTPStatus.CONFLICT
    assert '"replaceAccount": true' in caught.value.message
    assert secrets.count(PUT) == writes
    assert first.generation == 1


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"rcAccessToken": RC_TOKEN, "replaceAccount": True}),
        f"rcAccessToken={RC_TOKEN}&replaceAccount=true",
    ],
    ids=["json", "form"],
)
def test_exchange_replace_account_switches_on_purpose(
    handler: Handler,
    exchanger: Exchanger,
    ringcx: FakeRingCX,
    ring: TokenRing,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    body: str,
) -> None:
    # Given a chain of one account, and an admin posting another account's token on purpose
    exchanger.exchange(RC_TOKEN)
    clock.advance(120)
    ringcx.reply_extra = OTHER_ACCOUNT
    form = body.startswith("rcAccessToken=")
    event = api_event(body, "application/x-www-form-urlencoded" if form else "application/json")

    # When it is handled
    with caplog.at_level(logging.WARNING):
        reply = handler(event)

    # Then the new account's generation is stored, and the switch is logged
    assert reply["statusCode"] == HTTPStatus.OK
    newest = ring.newest()
    assert newest is not None and newest.account.main_account_id == "2002"
    assert any("Switching the token chain" in r.getMessage() for r in caplog.records)


def test_exchange_expected_main_account_refuses_even_the_first_login(
    ring: TokenRing, ringcx: FakeRingCX, login: FakeLogin, clock: FakeClock
) -> None:
    # Given a deployment pinned to main account 1001 and a first login for 2002
    exchanger = Exchanger(ring, ringcx.client, login, clock, expected_main_account="1001")
    ringcx.reply_extra = {"mainAccountId": "2002"}

    # When it logs in, even asking to replace
    with pytest.raises(BrokerError) as caught:
        exchanger.exchange(None, replace_account=True)

    # Then the parameter wins: 409, nothing stored
    assert caught.value.status == HTTPStatus.CONFLICT
    assert "ExpectedMainAccountId" in caught.value.message
    assert ring.newest() is None


@pytest.mark.parametrize("body", ['{"replaceAccount": "yes"}', '{"replaceAccount": 1}'])
def test_exchange_replace_account_must_be_a_boolean(
    handler: Handler, login: FakeLogin, body: str
) -> None:
    reply = handler(api_event(body))
    assert reply["statusCode"] == HTTPStatus.BAD_REQUEST
    assert "replaceAccount must be true or false" in body_of(reply)["message"]
    assert login.calls == 0


def test_exchange_cooldown_refuses_a_second_exchange_without_an_auth_call(
    ring: TokenRing, ringcx: FakeRingCX, login: FakeLogin, clock: FakeClock
) -> None:
    # Given a stored exchange, and the default 60 s cooldown
    exchanger = Exchanger(ring, ringcx.client, login, clock)
    exchanger.exchange(RC_TOKEN)

    # When another exchange comes 20 s later, from any container
    clock.advance(20)
    other = Exchanger(ring, ringcx.client, login, clock)
    with pytest.raises(RateLimited) as caught:
        other.exchange(None)

    # Then it is a 429 with the time left, and neither RingCX nor RingCentral was called
    assert caught.value.retry_after == 40
    assert ringcx.exchange_calls == [RC_TOKEN]
    assert login.calls == 0

    # And once the cooldown has passed it is accepted
    clock.advance(40)
    assert other.exchange(None).generation == 2


def test_exchange_cooldown_does_not_follow_the_refreshers_rotations(
    ring: TokenRing,
    ringcx: FakeRingCX,
    login: FakeLogin,
    clock: FakeClock,
    secrets: FakeSecretsManager,
) -> None:
    # Given the ring's newest generation written by the refresher a second ago
    seed(secrets, ring, make_token(3, now=clock(), source="refresh"))
    clock.advance(1)

    # When an admin exchanges
    token = Exchanger(ring, ringcx.client, login, clock).exchange(RC_TOKEN)

    # Then no cooldown applies: only stored exchanges start one
    assert token.generation == 4


def test_exchange_write_budget_full_slot_is_429_before_any_auth_call(
    ring: TokenRing,
    ringcx: FakeRingCX,
    login: FakeLogin,
    clock: FakeClock,
    secrets: FakeSecretsManager,
) -> None:
    # Given a ring with no room left for unplanned writes (a budget of zero)
    budget = WriteBudget(secrets.client, ring.slot_ids, TimingPolicy(), limit=0, clock=clock)
    exchanger = Exchanger(ring, ringcx.client, login, clock, budget=budget)

    # When a caller posts an RC token
    with pytest.raises(RateLimited) as caught:
        exchanger.exchange(RC_TOKEN)

    # Then it is refused with a Retry-After, before RingCX was asked
    assert caught.value.status == HTTPStatus.TOO_MANY_REQUESTS
    assert "the exchange refused" in caught.value.message
    assert ringcx.exchange_calls == []
