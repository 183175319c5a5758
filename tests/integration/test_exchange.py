"""ExchangeFunction against the simulator and moto's Secrets Manager, over HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ringcx_broker import exchange
from ringcx_broker import refresher as refresh_module
from ringcx_broker.exchange import Exchanger
from ringcx_broker.ratelimit import RateGate
from ringcx_broker.tokens import StoredToken
from ringcx_dev.simulator import Fault, SimConfig, Simulator
from ringcx_dev.stack import LocalStack, put_credentials

from .conftest import Containers, FlakySecrets

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

pytestmark = pytest.mark.integration
EVENTS = Path(__file__).parents[2] / "events"


def load_event(name: str, rc_token: str | None = None) -> dict[str, Any]:
    text = (EVENTS / name).read_text()
    if rc_token is not None:
        if '"isBase64Encoded": true' in text:
            import base64

            event = json.loads(text)
            raw = base64.b64decode(event["body"]).decode().replace("RC_ACCESS_TOKEN", rc_token)
            event["body"] = base64.b64encode(raw.encode()).decode()
            return event
        text = text.replace("RC_ACCESS_TOKEN", rc_token)
    event: dict[str, Any] = json.loads(text)
    return event


def ring_slots(client: SecretsManagerClient, stack: LocalStack) -> list[StoredToken | None]:
    return [
        StoredToken.from_secret_string(client.get_secret_value(SecretId=s)["SecretString"])
        for s in stack.token_secret_ids
    ]


def test_exchange_direct_invoke_with_stored_jwt_stores_generation_one(
    containers: Containers,
    configured_stack: LocalStack,
    simulator: Simulator,
    secrets_client: SecretsManagerClient,
) -> None:
    # Given credentials in the secret and an empty ring
    # When the exchange is invoked directly with {}
    reply = exchange.handle(load_event("exchange-direct-jwt.json"), containers.exchanger())

    # Then it logged in (JWT grant, then exchange) and stored generation 1 in slot 1
    assert reply["ok"] is True
    assert reply["generation"] == 1
    assert reply["accountIds"] == [simulator.state.config.account_id]
    counters = simulator.counters()
    assert counters["rc_token"]["ok"] == 1
    assert counters["rcx_exchange"]["ok"] == 1
    stored = ring_slots(secrets_client, configured_stack)[1]
    assert stored is not None and stored.generation == 1
    assert stored.refresh_token in simulator.state.live_refresh_tokens
    assert stored.lifetime == pytest.approx(simulator.state.config.token_lifetime)


@pytest.mark.parametrize(
    "event_name",
    ["exchange-api-json.json", "exchange-api-form.json", "exchange-direct-rc-token.json"],
)
def test_exchange_posted_rc_token_returns_summary_without_tokens(
    containers: Containers,
    stack: LocalStack,
    simulator: Simulator,
    rc_token: Callable[[], str],
    secrets_client: SecretsManagerClient,
    event_name: str,
) -> None:
    # Given a caller holding a RingCentral access token (no stored credentials)
    token = rc_token()

    # When it posts the token
    reply = exchange.handle(load_event(event_name, token), containers.exchanger())

    # Then the reply is a summary, and the ring holds the RingCX tokens
    body = json.loads(reply["body"]) if "statusCode" in reply else reply
    if "statusCode" in reply:
        assert reply["statusCode"] == HTTPStatus.OK
    assert body["ok"] is True and body["source"] == "exchange"
    assert body["agents"][0]["accountId"] == simulator.state.config.account_id
    stored = ring_slots(secrets_client, stack)[1]
    assert stored is not None
    text = json.dumps(reply)
    assert stored.access_token not in text
    assert stored.refresh_token is not None and stored.refresh_token not in text
    assert token not in text
    assert simulator.counters()["rc_token"]["calls"] == 1  # only the caller's own login


def test_exchange_rejected_rc_token_answers_401_and_writes_nothing(
    containers: Containers,
    stack: LocalStack,
    secrets_client: SecretsManagerClient,
) -> None:
    # Given an RC token RingCX does not know
    event = load_event("exchange-api-json.json", "not-a-real-rc-token")

    # When it is exchanged
    reply = exchange.handle(event, containers.exchanger())

    # Then 401 with a message, and the ring stays empty
    assert reply["statusCode"] == HTTPStatus.UNAUTHORIZED
    assert "RingCX rejected the RingCentral access token" in json.loads(reply["body"])["message"]
    assert ring_slots(secrets_client, stack) == [None] * len(stack.token_secret_ids)


def test_exchange_malformed_body_answers_400(containers: Containers, stack: LocalStack) -> None:
    reply = exchange.handle(load_event("exchange-api-malformed.json"), containers.exchanger())
    assert reply["statusCode"] == HTTPStatus.BAD_REQUEST
    assert "JSON" in json.loads(reply["body"])["message"]


def with_body(body: str, content_type: str) -> dict[str, Any]:
    event = load_event("exchange-api-empty.json")
    event["headers"] = {"Content-Type": content_type}
    event["multiValueHeaders"] = {"Content-Type": [content_type]}
    return {**event, "body": body, "isBase64Encoded": False}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("not json", "application/x-www-form-urlencoded"),  # curl -d 'not json'
        ("rcTokenType=Bearer", "application/x-www-form-urlencoded"),
        ('{"token": "abc"}', "application/json"),
        ("[]", "application/json"),
        ('"rcAccessToken"', "application/json"),
    ],
    ids=["curl-default", "form-without-token", "json-other-field", "json-array", "json-string"],
)
def test_exchange_body_without_rc_token_is_400_and_spends_no_login(
    containers: Containers,
    configured_stack: LocalStack,
    simulator: Simulator,
    secrets_client: SecretsManagerClient,
    body: str,
    content_type: str,
) -> None:
    # Given configured credentials (so a JWT login would succeed)
    # When a caller posts a body that is neither empty, {}, nor carries an rcAccessToken
    reply = exchange.handle(with_body(body, content_type), containers.exchanger())

    # Then it is a 400, and neither RingCentral nor RingCX was called, nor the ring written
    assert reply["statusCode"] == HTTPStatus.BAD_REQUEST
    counters = simulator.counters()
    assert counters["rc_token"]["calls"] == counters["rcx_exchange"]["calls"] == 0
    assert ring_slots(secrets_client, configured_stack) == [None] * 6


@pytest.mark.parametrize("status", [HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND])
def test_exchange_user_without_ringcx_access_answers_403_saying_so(
    containers: Containers,
    stack: LocalStack,
    simulator: Simulator,
    rc_token: Callable[[], str],
    status: HTTPStatus,
) -> None:
    # Given a RingCentral user whose account has no RingCX access
    simulator.configure(exchange_denied_status=int(status))

    # When their valid RC token is posted
    reply = exchange.handle(
        load_event("exchange-api-json.json", rc_token()), containers.exchanger()
    )

    # Then 403 says so (not "the RC token is invalid"), and nothing is stored
    assert reply["statusCode"] == HTTPStatus.FORBIDDEN
    assert "no RingCX access" in json.loads(reply["body"])["message"]


def test_exchange_ringcentral_503_with_retry_after_is_honoured_stack_wide(
    containers: Containers, configured_stack: LocalStack, simulator: Simulator
) -> None:
    # Given RingCentral shedding load: 503 with Retry-After: 30
    simulator.inject("rc_token", Fault(status=503, retry_after=30))

    # When the stored JWT logs in, and then again from another container
    first = exchange.handle(load_event("exchange-api-empty.json"), containers.exchanger())
    second = exchange.handle(load_event("exchange-api-empty.json"), containers.exchanger())

    # Then both are told to wait 30 s, and only the first reached RingCentral
    assert [r["statusCode"] for r in (first, second)] == [HTTPStatus.TOO_MANY_REQUESTS] * 2
    assert first["headers"]["Retry-After"] == "30"
    assert simulator.counters()["rc_token"]["calls"] == 1


@pytest.mark.parametrize("sim_config", [SimConfig(session_quota_429=True, max_rc_sessions=1)])
def test_exchange_session_quota_429_answers_429_with_retry_after(
    containers: Containers, configured_stack: LocalStack, simulator: Simulator
) -> None:
    # Given RingCentral's session quota already used by another login
    assert exchange.handle({}, containers.exchanger())["ok"] is True

    # When the stored JWT logs in again
    reply = exchange.handle(load_event("exchange-api-empty.json"), containers.exchanger())

    # Then it is a rate limit the caller can wait out, not a credentials error
    assert reply["statusCode"] == HTTPStatus.TOO_MANY_REQUESTS
    assert int(reply["headers"]["Retry-After"]) >= 1


@pytest.mark.parametrize(
    ("secret_text", "expected"),
    [
        ("{}", "is empty; put client_id, client_secret, jwt in it"),
        ("not json at all", "is not valid JSON"),
        ('["a list"]', "is not a JSON object"),
        ('{"client_id": "x", "jwt": "y"}', "lacks client_secret"),
        ('{"client_id": "x"}', "lacks client_secret, jwt"),
    ],
)
def test_exchange_bad_credentials_secret_answers_503_naming_problem_and_writes_nothing(
    containers: Containers,
    stack: LocalStack,
    secrets_client: SecretsManagerClient,
    simulator: Simulator,
    secret_text: str,
    expected: str,
) -> None:
    # Given a credentials secret that cannot be used
    secrets_client.put_secret_value(SecretId=stack.credentials_secret_id, SecretString=secret_text)

    # When the exchange runs with an empty body (log in with the stored JWT)
    reply = exchange.handle(load_event("exchange-api-empty.json"), containers.exchanger())

    # Then 503 names the problem, nothing reached RingCentral, nothing was written
    assert reply["statusCode"] == HTTPStatus.SERVICE_UNAVAILABLE
    message = json.loads(reply["body"])["message"]
    assert expected in message and stack.credentials_secret_id in message
    assert simulator.counters()["rc_token"]["calls"] == 0
    assert ring_slots(secrets_client, stack) == [None] * len(stack.token_secret_ids)


def test_exchange_missing_credentials_secret_answers_503(
    containers: Containers,
    stack: LocalStack,
    secrets_client: SecretsManagerClient,
) -> None:
    # Given the credentials secret was deleted
    secrets_client.delete_secret(
        SecretId=stack.credentials_secret_id, ForceDeleteWithoutRecovery=True
    )
    # When the exchange logs in with the stored JWT
    reply = exchange.handle({}, containers.exchanger())
    # Then a 503 that says the credentials are not configured
    assert reply["ok"] is False and reply["statusCode"] == HTTPStatus.SERVICE_UNAVAILABLE
    assert "credentials are not configured" in reply["message"]


@pytest.mark.parametrize(
    ("client_secret", "jwt", "code"),
    [("wrong-secret", None, "invalid_client"), (None, "wrong.jwt.value", "invalid_grant")],
)
def test_exchange_credentials_rejected_by_ringcentral_answers_clear_error(
    containers: Containers,
    stack: LocalStack,
    secrets_client: SecretsManagerClient,
    sim_config: SimConfig,
    client_secret: str | None,
    jwt: str | None,
    code: str,
) -> None:
    # Given credentials RingCentral refuses
    put_credentials(
        secrets_client,
        stack.credentials_secret_id,
        sim_config.client_id,
        client_secret or sim_config.client_secret,
        jwt or sim_config.jwt,
    )
    # When the exchange logs in
    reply = exchange.handle({}, containers.exchanger())
    # Then "credentials rejected" with RingCentral's error code, and nothing stored
    assert reply["ok"] is False and reply["statusCode"] == HTTPStatus.BAD_GATEWAY
    assert "rejected the stored credentials" in reply["message"] and code in reply["message"]
    assert ring_slots(secrets_client, stack) == [None] * len(stack.token_secret_ids)


@pytest.mark.parametrize("sim_config", [SimConfig(rate_limit=2, retry_after=60)])
def test_exchange_rate_limited_surfaces_retry_after_without_retrying(
    containers: Containers,
    configured_stack: LocalStack,
    simulator: Simulator,
) -> None:
    # Given one container that has used up RingCentral's login budget
    exchanger = containers.exchanger()
    for _ in range(2):
        assert exchange.handle({}, exchanger)["ok"] is True

    # When it logs in again, twice
    first = exchange.handle(load_event("exchange-api-empty.json"), exchanger)
    second = exchange.handle(load_event("exchange-api-empty.json"), exchanger)

    # Then both answer 429 with Retry-After, and only the first reached upstream
    for reply in (first, second):
        assert reply["statusCode"] == HTTPStatus.TOO_MANY_REQUESTS
        assert 1 <= int(reply["headers"]["Retry-After"]) <= 60
    assert simulator.counters()["rc_token"]["rate_limited"] == 1
    assert simulator.counters()["rc_token"]["calls"] == 3


@pytest.mark.parametrize("sim_config", [SimConfig(rate_limit=1, retry_after=60)])
def test_exchange_penalty_stops_the_refresher_from_extending_it(
    containers: Containers,
    configured_stack: LocalStack,
    simulator: Simulator,
    secrets_client: SecretsManagerClient,
) -> None:
    # Given the exchange function, which used RingCentral's login budget and then got a 429
    exchanger = containers.exchanger()
    assert exchange.handle({}, exchanger)["ok"] is True
    assert exchange.handle({}, exchanger)["statusCode"] == HTTPStatus.TOO_MANY_REQUESTS
    calls = simulator.counters()["rc_token"]["calls"]
    versions = len(
        secrets_client.list_secret_version_ids(
            SecretId=configured_stack.credentials_secret_id, IncludeDeprecated=True
        )["Versions"]
    )

    # When the refresher function (another container, its own memory) must log in because
    # the chain died, and an operator retries the exchange from a fresh container too
    simulator.revoke_refresh_tokens()
    forced = refresh_module.handle({"force": True}, containers.refresher())
    again = exchange.handle({}, containers.exchanger())

    # Then neither sends a login during the penalty (which a request would restart), and
    # sharing it cost the credentials secret no new version
    assert forced["ok"] is False
    assert forced["statusCode"] == HTTPStatus.TOO_MANY_REQUESTS
    assert again["statusCode"] == HTTPStatus.TOO_MANY_REQUESTS
    assert simulator.counters()["rc_token"]["calls"] == calls
    assert (
        len(
            secrets_client.list_secret_version_ids(
                SecretId=configured_stack.credentials_secret_id, IncludeDeprecated=True
            )["Versions"]
        )
        == versions
    )


def test_exchange_ringcx_rate_limit_answers_429(
    containers: Containers,
    stack: LocalStack,
    simulator: Simulator,
    rc_token: Callable[[], str],
) -> None:
    # Given RingCX's exchange endpoint allows one call per window, already used
    simulator.configure(rate_limit=1)
    token = rc_token()
    event = load_event("exchange-api-json.json", token)
    assert exchange.handle(event, containers.exchanger())["statusCode"] == HTTPStatus.OK
    # When a caller posts a valid RC token again
    reply = exchange.handle(event, containers.exchanger())
    # Then 429 with Retry-After, counted by RingCX
    assert reply["statusCode"] == HTTPStatus.TOO_MANY_REQUESTS
    assert int(reply["headers"]["Retry-After"]) >= 1
    assert simulator.counters()["rcx_exchange"]["rate_limited"] == 1


def test_ring_successive_logins_spread_writes_across_all_slots(
    containers: Containers,
    configured_stack: LocalStack,
    simulator: Simulator,
    secrets_client: SecretsManagerClient,
) -> None:
    # Given a ring of K slots and a generous rate limit
    simulator.configure(rate_limit=100)
    size = len(configured_stack.token_secret_ids)

    # When K+1 logins are stored one after another
    for _ in range(size + 1):
        assert exchange.handle({}, containers.exchanger())["ok"] is True

    # Then generation g sits in slot g mod K, each slot was written about once,
    # and the newest generation is K+1
    slots = ring_slots(secrets_client, configured_stack)
    assert [t.generation if t else None for t in slots] == [size, size + 1, *range(2, size)]
    versions = [
        len(secrets_client.list_secret_version_ids(SecretId=s, IncludeDeprecated=True)["Versions"])
        for s in configured_stack.token_secret_ids
    ]
    assert versions == [
        2,
        3,
        *([2] * (size - 2)),
    ]  # the initial {} plus one write each (slot 1: two)
    newest = containers.ring().newest()
    assert newest is not None and newest.generation == size + 1


class RaceWindowClient:
    """Real moto client whose reads come from before the rival's write: the two
    writers both passed the stale-writer check, as in a true race."""

    def __init__(self, client: SecretsManagerClient, stack: LocalStack) -> None:
        self._client = client
        self._before = {s: client.get_secret_value(SecretId=s) for s in stack.token_secret_ids}

    def get_secret_value(self, **kwargs: Any) -> Any:
        return self._before[kwargs["SecretId"]]

    def put_secret_value(self, **kwargs: Any) -> Any:
        return self._client.put_secret_value(**kwargs)


def test_ring_concurrent_writer_of_same_generation_is_rejected(
    containers: Containers,
    configured_stack: LocalStack,
    simulator: Simulator,
    secrets_client: SecretsManagerClient,
) -> None:
    # Given two writers that each obtained a different generation-1 token
    from ringcx_broker.errors import RingWriteConflict

    login = containers.login()
    now = 1_800_000_000.0
    first = StoredToken.from_grant(login.login(), 1, now, "login")
    second = StoredToken.from_grant(login.login(), 1, now, "login")
    assert first.refresh_token != second.refresh_token

    # When both write generation 1, the second inside the race window
    race_window = RaceWindowClient(secrets_client, configured_stack)
    containers.ring().write(first)
    with pytest.raises(RingWriteConflict):
        containers.ring(race_window).write(second)

    # Then Secrets Manager refused the second write (same ClientRequestToken,
    # other value) and the first writer's refresh token is the one stored
    stored = containers.ring().newest()
    assert stored is not None and stored.refresh_token == first.refresh_token


def test_ring_retried_write_of_same_generation_is_idempotent(
    containers: Containers,
    configured_stack: LocalStack,
    secrets_client: SecretsManagerClient,
) -> None:
    # Given a generation already written once
    token = StoredToken.from_grant(containers.login().login(), 1, 1_800_000_000.0, "login")
    race_window = RaceWindowClient(secrets_client, configured_stack)
    containers.ring().write(token)

    # When the same writer retries the identical write, even inside the race window
    containers.ring(race_window).write(token)
    containers.ring().write(token)

    # Then no error, and no extra version was created
    slot = configured_stack.token_secret_ids[1]
    versions = secrets_client.list_secret_version_ids(SecretId=slot)["Versions"]
    assert len(versions) == 2  # the initial {} and generation 1


def test_exchange_unstorable_tokens_fail_loudly_and_a_retry_succeeds(
    containers: Containers,
    configured_stack: LocalStack,
    simulator: Simulator,
    secrets_client: SecretsManagerClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given Secrets Manager refuses every write
    flaky = FlakySecrets(secrets_client, failures=100)
    gate = RateGate()
    broken = Exchanger(containers.ring(flaky), containers.ringcx(gate), containers.login(gate))

    # When a login's tokens cannot be stored
    reply = exchange.handle({}, broken)

    # Then a 503 says so, an error is logged, and no token shows in either
    assert reply["ok"] is False and reply["statusCode"] == HTTPStatus.SERVICE_UNAVAILABLE
    assert "could not be stored" in reply["message"]
    assert any(r.levelname == "ERROR" for r in caplog.records)
    live = simulator.state.live_refresh_tokens
    assert live and not any(t in caplog.text + json.dumps(reply) for t in live)
    assert ring_slots(secrets_client, configured_stack) == [None] * 6

    # When Secrets Manager recovers and the caller retries
    flaky.failures = 0
    retry = exchange.handle({}, broken)

    # Then the retry stores generation 1 as usual
    assert retry["ok"] is True and retry["generation"] == 1
