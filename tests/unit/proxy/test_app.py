"""The resolver end to end, without a network: real-shaped events in, API
Gateway responses out; the upstream is a fake pool, the ring a fake Secrets
Manager, the refresher a scripted invoker."""

from __future__ import annotations

import base64
import importlib.util
import json
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
import urllib3

from ringcx_broker import runtime
from ringcx_broker.proxy import app as app_module
from ringcx_broker.proxy.app import ProxyApp, build_app
from ringcx_broker.proxy.forward import REDACTED, Upstream
from ringcx_broker.proxy.token_source import RefreshOutcome, TokenSource
from ringcx_broker.ring import TokenRing
from ringcx_broker.settings import Settings
from ringcx_broker.timing import TimingPolicy
from ringcx_broker.tokens import StoredToken
from tests.unit.core.fakes import (
    LIFETIME,
    FakeClock,
    FakeSecretsManager,
    RecordingSleep,
    make_token,
)
from tests.unit.proxy.fakes import (
    REFUSED_EVENTS,
    FakeInvoker,
    FakeOriginPool,
    load_event,
    set_header,
    store,
    upstream_response,
)

ROOT = Path(__file__).resolve().parents[3]
ORIGIN = "https://engage.ringcentral.com"


@dataclass
class World:
    app: ProxyApp
    pool: FakeOriginPool
    secrets: FakeSecretsManager
    ring: TokenRing
    invoker: FakeInvoker
    clock: FakeClock

    def call(self, event: Any) -> dict[str, Any]:
        return self.app.handle(event, None)

    def token(self, generation: int, **kwargs: Any) -> StoredToken:
        token = make_token(generation, **kwargs)
        store(self.secrets, self.ring, token)
        return token

    def rotate(self, stale: int) -> RefreshOutcome:
        """An invoker outcome: store generation ``stale + 1`` minted now, as the refresher would."""
        self.token(stale + 1, now=self.clock())
        return RefreshOutcome(ok=True, generation=stale + 1)


def make_world(token_endpoint: bool = False, methods: frozenset[str] | None = None) -> World:
    clock = FakeClock()
    secrets = FakeSecretsManager()
    slots = [secrets.create_secret(Name=f"s{i}", SecretString="{}")["ARN"] for i in range(6)]
    ring = TokenRing(secrets, slots)
    settings = Settings(
        ringcx_url=ORIGIN,
        token_secret_ids=tuple(slots),
        token_endpoint_enabled=token_endpoint,
        allowed_methods=methods or frozenset({"GET", "POST"}),
    )
    invoker = FakeInvoker()
    tokens = TokenSource(
        lambda: ring, invoker, TimingPolicy(), clock=clock, sleep=RecordingSleep(clock)
    )
    pool = FakeOriginPool()
    app = ProxyApp(settings, tokens, Upstream(ORIGIN, pool, 5), clock=clock)
    return World(app, pool, secrets, ring, invoker, clock)


@pytest.fixture
def world() -> World:
    world = make_world()
    world.token(1)
    return world


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def headers_of(response: dict[str, Any]) -> dict[str, list[str]]:
    return response.get("multiValueHeaders") or {
        k: [v] for k, v in response.get("headers", {}).items()
    }


def jwt_expired_401() -> urllib3.HTTPResponse:
    """RingCX's answer to an expired access token."""
    return upstream_response(401, b"Jwt is expired", {"Content-Type": "text/plain"})


def empty_list_200() -> urllib3.HTTPResponse:
    return upstream_response(200, b"[]", {"Content-Type": "application/json"})


# -- event shapes ------------------------------------------------------------------


@pytest.mark.parametrize("event", [{"staleGeneration": 3}, {}, None, "ping", [1, 2], 42])
def test_handle_direct_invoke_is_a_clear_400(world: World, event: Any) -> None:
    response = world.call(event)
    assert response["ok"] is False
    assert response["statusCode"] == HTTPStatus.BAD_REQUEST
    assert "API Gateway" in response["message"]
    assert world.pool.sent == []


def test_handle_sample_direct_invoke_event_is_400(world: World) -> None:
    assert world.call(load_event("proxy-direct-invoke"))["statusCode"] == HTTPStatus.BAD_REQUEST


def test_handle_event_without_request_context_is_400(world: World) -> None:
    response = world.call(load_event("proxy-no-request-context"))
    assert response["statusCode"] == HTTPStatus.BAD_REQUEST
    assert "requestContext" in body_of(response)["message"]
    assert world.pool.sent == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("headers", ["Accept"]), ("multiValueHeaders", "x"), ("path", None), ("httpMethod", 1)],
)
def test_handle_malformed_api_event_is_400(world: World, field: str, value: Any) -> None:
    event = load_event("proxy-get-accounts")
    event[field] = value
    response = world.call(event)
    assert response["statusCode"] == HTTPStatus.BAD_REQUEST
    assert "message" in body_of(response)


def test_handle_unknown_route_is_404_json(world: World) -> None:
    event = load_event("proxy-health")
    event["path"] = event["resource"] = "/admin"
    response = world.call(event)
    assert response["statusCode"] == HTTPStatus.NOT_FOUND
    assert body_of(response) == {"message": "Not found"}


# -- /voice/api ----------------------------------------------------------------------


def test_voice_get_returns_upstream_status_body_and_safe_headers(world: World) -> None:
    world.pool.queue(
        upstream_response(
            200,
            b'[{"accountId":"15300002"}]',
            [("Content-Type", "application/json"), ("Set-Cookie", "JSESSIONID=1")],
        )
    )
    response = world.call(load_event("proxy-get-accounts"))
    assert response["statusCode"] == HTTPStatus.OK
    assert response["body"] == '[{"accountId":"15300002"}]'
    assert response["isBase64Encoded"] is False
    assert headers_of(response) == {"Content-Type": ["application/json"]}
    sent = world.pool.sent[0]
    assert sent.target == "/voice/api/v1/admin/accounts"
    assert sent.headers["Authorization"].startswith("Bearer ")
    assert "AWS4-HMAC-SHA256" not in json.dumps(sent.headers)


def test_voice_binary_reply_is_base64_encoded(world: World) -> None:
    data = bytes(range(256)) * 16
    world.pool.queue(upstream_response(200, data, {"Content-Type": "application/octet-stream"}))
    response = world.call(load_event("proxy-get-binary"))
    assert response["isBase64Encoded"] is True
    assert base64.b64decode(response["body"]) == data


@pytest.mark.parametrize(("name", "status"), REFUSED_EVENTS)
def test_voice_bad_request_is_refused_and_never_forwarded(
    world: World, name: str, status: HTTPStatus
) -> None:
    response = world.call(load_event(name))
    assert response["statusCode"] == status
    assert set(body_of(response)) == {"message"}
    assert world.pool.sent == []


def test_voice_405_names_the_allowed_methods(world: World) -> None:
    response = world.call(load_event("proxy-delete"))
    assert headers_of(response)["Allow"] == ["GET, POST"]


@pytest.mark.parametrize(
    "method",
    ["post", "Post", "get", "PO\u017fT", "G\u0395T", "TRACE", "CONNECT", "\ud800", ""],
    ids=["post", "Post", "get", "long-s", "greek", "trace", "connect", "surrogate", "empty"],
)
def test_voice_method_not_exactly_allowlisted_is_405_and_never_forwarded(
    world: World, method: str
) -> None:
    # Given a method that case or Unicode folding would turn into POST or GET
    event = load_event("proxy-post-json-text")
    event["httpMethod"] = method
    # When the proxy serves it
    response = world.call(event)
    # Then it is 405 with the allow-list, and nothing went upstream as POST (or at all)
    assert response["statusCode"] == HTTPStatus.METHOD_NOT_ALLOWED
    assert headers_of(response)["Allow"] == ["GET, POST"]
    assert world.pool.sent == []


@pytest.mark.parametrize("route", ["proxy-health", "proxy-token"])
@pytest.mark.parametrize("method", ["get", "Get", "G\u0395T"])
def test_health_and_token_method_not_exact_is_not_served(method: str, route: str) -> None:
    # Given /health or /token asked with a folded spelling of GET
    world = make_world(token_endpoint=True)
    world.token(1)
    event = load_event(route)
    event["httpMethod"] = method
    # When served / Then it is the answer to an unknown method, not GET's
    response = world.call(event)
    assert response["statusCode"] == HTTPStatus.NOT_FOUND
    assert "accessToken" not in response["body"]


@pytest.mark.parametrize(
    ("name", "value"),
    [("Accept", "\u65e5\u672c"), ("Content-Type", "text/plain; x=\u2603"), ("Accept", "\ud800")],
    ids=["cjk", "snowman", "surrogate"],
)
def test_voice_header_outside_latin1_is_400_naming_it_and_never_forwarded(
    world: World, name: str, value: str
) -> None:
    # Given a forwarded header that http.client would fail to encode (a 500 before)
    event = load_event("proxy-get-accounts")
    set_header(event, name, value)
    # When the proxy serves it
    response = world.call(event)
    # Then it is a 400 that names the header, and nothing was sent
    assert response["statusCode"] == HTTPStatus.BAD_REQUEST
    assert f"header {name} " in body_of(response)["message"]
    assert world.pool.sent == []


def _surrogate_in_path(event: dict[str, Any]) -> None:
    event["path"] = "/voice/api/v1/\ud800"
    event["pathParameters"] = {"proxy": "v1/\ud800"}


def _surrogate_in_query(event: dict[str, Any]) -> None:
    event["queryStringParameters"] = {"q": "\udfff"}
    event["multiValueQueryStringParameters"] = {"q": ["\udfff"]}


def _surrogate_in_body(event: dict[str, Any]) -> None:
    event["body"] = '{"name": "\udc00"}'


@pytest.mark.parametrize(
    "plant",
    [_surrogate_in_path, _surrogate_in_query, _surrogate_in_body],
    ids=["path", "query", "body"],
)
def test_voice_lone_surrogate_is_400_and_never_forwarded(
    world: World, plant: Callable[[dict[str, Any]], None]
) -> None:
    # Given an event (say a direct invoke with "\ud800" in its JSON) with a lone surrogate
    event = load_event("proxy-post-json-text")
    plant(event)
    # When the proxy serves it
    response = world.call(event)
    # Then it is a 400 that says so (a 500 before), and nothing was sent
    assert response["statusCode"] == HTTPStatus.BAD_REQUEST
    assert "lone surrogate" in body_of(response)["message"]
    assert world.pool.sent == []


def test_voice_configured_method_is_forwarded() -> None:
    world = make_world(methods=frozenset({"GET", "DELETE"}))
    world.token(1)
    world.pool.queue(upstream_response(204))
    response = world.call(load_event("proxy-delete"))
    assert response["statusCode"] == HTTPStatus.NO_CONTENT
    assert world.pool.sent[0].method == "DELETE"


@pytest.mark.parametrize("path", ["/voice/api/v1/a\nb", "/voice/api/v1/a\rb"])
def test_voice_path_the_route_cannot_match_still_gets_400(world: World, path: str) -> None:
    # Given a control character the route's regex does not match
    event = load_event("proxy-get-accounts")
    event["path"] = path
    event["pathParameters"] = {"proxy": path.removeprefix("/voice/api/")}
    # Then the voice checks still answer: 400, not 404, and nothing is forwarded
    response = world.call(event)
    assert response["statusCode"] == HTTPStatus.BAD_REQUEST
    assert world.pool.sent == []


def test_voice_reply_quoting_the_tokens_is_scrubbed_and_logged_without_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given RingCX answers with an error that quotes the request's Authorization
    # header, the refresh token, and a header that repeats the bearer token
    world = make_world()
    token = world.token(1, refresh_token="rcx-refresh-reflected-0001")
    quoted = f'{{"error":"bad request","echo":"Authorization: {token.authorization}",'
    quoted += f'"refresh":"{token.refresh_token}"}}'
    world.pool.queue(
        upstream_response(
            400,
            quoted,
            [("Content-Type", "application/json"), ("X-Echo-Auth", token.authorization)],
        )
    )
    # When the proxy returns it
    with caplog.at_level(logging.WARNING):
        response = world.call(load_event("proxy-get-accounts"))
    # Then the status and shape stay, every token is the marker, and the log names where
    assert response["statusCode"] == HTTPStatus.BAD_REQUEST
    assert isinstance(response["body"], str)
    assert body_of(response) == {
        "error": "bad request",
        "echo": f"Authorization: Bearer {REDACTED}",
        "refresh": REDACTED,
    }
    assert headers_of(response)["X-Echo-Auth"] == [f"Bearer {REDACTED}"]
    warnings = [r for r in caplog.records if "reflected" in r.getMessage()]
    assert [r.__dict__["where"] for r in warnings] == [["body", "X-Echo-Auth"]]
    logged = caplog.text + repr([r.__dict__ for r in caplog.records])
    assert token.access_token not in logged
    assert str(token.refresh_token) not in logged


def test_voice_binary_reply_quoting_the_token_stays_binary(world: World) -> None:
    # Given a binary reply that happens to carry the bearer token
    token = world.app.tokens.current()
    data = b"\x00\xff" + token.access_token.encode() + b"\x80"
    world.pool.queue(upstream_response(200, data, {"Content-Type": "application/octet-stream"}))
    # When proxied
    response = world.call(load_event("proxy-get-binary"))
    # Then it is still base64 bytes, with the marker in place of the token
    assert response["isBase64Encoded"] is True
    assert base64.b64decode(response["body"]) == b"\x00\xff" + REDACTED.encode() + b"\x80"


def test_voice_retried_reply_quoting_the_first_token_is_scrubbed(world: World) -> None:
    # Given a 401, a newer generation, and a second reply that quotes both tokens
    first = world.app.tokens.current()
    second = world.token(2)
    world.pool.queue(
        jwt_expired_401(),
        upstream_response(
            200, f"{first.access_token} {second.access_token}", {"Content-Type": "text/plain"}
        ),
    )
    # When proxied / Then neither token survives
    response = world.call(load_event("proxy-get-accounts"))
    assert len(world.pool.sent) == 2
    assert response["body"] == f"{REDACTED} {REDACTED}"


def test_voice_unexpected_bug_is_500_without_details(world: World) -> None:
    world.pool.queue(ValueError("secret detail Bearer abc"))
    response = world.call(load_event("proxy-get-accounts"))
    assert response["statusCode"] == HTTPStatus.INTERNAL_SERVER_ERROR
    assert "secret" not in response["body"]
    assert body_of(response) == {"message": "internal error; see the broker's logs"}


def test_voice_no_token_is_503_and_not_forwarded() -> None:
    world = make_world()
    world.invoker.queue(RefreshOutcome(ok=False, message="the refresher failed"))
    response = world.call(load_event("proxy-get-accounts"))
    assert response["statusCode"] == HTTPStatus.SERVICE_UNAVAILABLE
    assert "no usable RingCX token" in body_of(response)["message"]
    assert world.pool.sent == []


# -- 401 handling ----------------------------------------------------------------------


def test_voice_401_with_newer_generation_retries_once_with_it(world: World) -> None:
    world.pool.queue(jwt_expired_401(), empty_list_200())
    event = load_event("proxy-get-accounts")
    world.app.tokens.current()
    newer = world.token(2)
    response = world.call(event)
    assert response["statusCode"] == HTTPStatus.OK
    assert [s.headers["Authorization"] for s in world.pool.sent][1] == newer.authorization
    assert len(world.pool.sent) == 2
    assert world.invoker.calls == []


def test_voice_other_401_passes_through_untouched(world: World) -> None:
    body = b'{"errorCode":"invalid.token.exception","generalMessage":"nope"}'
    world.pool.queue(upstream_response(401, body, {"Content-Type": "application/json"}))
    response = world.call(load_event("proxy-get-accounts"))
    assert response["statusCode"] == HTTPStatus.UNAUTHORIZED
    assert response["body"] == body.decode()
    assert len(world.pool.sent) == 1
    assert world.invoker.calls == []


def test_voice_expired_401_asks_refresher_then_retries_once(world: World) -> None:
    world.invoker.queue(world.rotate)
    world.pool.queue(jwt_expired_401(), empty_list_200())
    response = world.call(load_event("proxy-get-accounts"))
    assert response["statusCode"] == HTTPStatus.OK
    assert world.invoker.calls == [1]
    assert len(world.pool.sent) == 2


def test_voice_expired_401_twice_returns_the_second_401(world: World) -> None:
    world.invoker.queue(world.rotate)
    world.pool.queue(jwt_expired_401(), jwt_expired_401())
    response = world.call(load_event("proxy-get-accounts"))
    assert response["statusCode"] == HTTPStatus.UNAUTHORIZED
    assert response["body"] == "Jwt is expired"
    assert len(world.pool.sent) == 2


# -- /health and /token ------------------------------------------------------------------


def test_health_reports_timing_and_accounts_never_a_token(world: World) -> None:
    token = world.app.tokens.current()
    world.clock.advance(100)
    response = world.call(load_event("proxy-health"))
    body = body_of(response)
    assert response["statusCode"] == HTTPStatus.OK
    assert body["generation"] == 1
    assert body["secondsLeft"] == int(LIFETIME - 100)
    assert {"expiresAt", "lastRefreshedAt", "accountIds"} <= set(body)
    assert token.access_token not in response["body"]
    assert str(token.refresh_token) not in response["body"]
    assert world.pool.sent == []


def test_health_never_names_an_agent_or_their_email(world: World) -> None:
    # Given a token whose account lists an agent with a name and an email address
    token = world.app.tokens.current()
    agent = token.account.to_json()["agents"][0]
    personal = [agent[key] for key in ("firstName", "lastName", "email", "username")]
    # When anyone allowed to probe /health does so
    response = world.call(load_event("proxy-health"))
    # Then ids and timings come back, and no name or address
    assert response["statusCode"] == HTTPStatus.OK
    assert all(value and value not in response["body"] for value in personal)
    assert "agents" not in body_of(response)


def test_health_without_usable_token_is_503() -> None:
    world = make_world()
    response = world.call(load_event("proxy-health"))
    assert response["statusCode"] == HTTPStatus.SERVICE_UNAVAILABLE
    assert "message" in body_of(response)
    assert world.invoker.calls == []


def test_health_with_only_expired_token_is_503(world: World) -> None:
    world.clock.advance(LIFETIME + 1)
    response = world.call(load_event("proxy-health"))
    assert response["statusCode"] == HTTPStatus.SERVICE_UNAVAILABLE


def test_token_endpoint_off_is_404_like_any_unknown_route(world: World) -> None:
    response = world.call(load_event("proxy-token"))
    assert response["statusCode"] == HTTPStatus.NOT_FOUND
    assert body_of(response) == {"message": "Not found"}


def test_token_endpoint_on_returns_the_token_uncached() -> None:
    world = make_world(token_endpoint=True)
    token = world.token(1)
    response = world.call(load_event("proxy-token"))
    body = body_of(response)
    assert response["statusCode"] == HTTPStatus.OK
    assert body["accessToken"] == token.access_token
    assert body["tokenType"] == "Bearer"
    assert body["generation"] == 1
    assert "refreshToken" not in body
    assert headers_of(response)["Cache-Control"] == ["no-store"]


# -- wiring and the Lambda handler ---------------------------------------------------------


@pytest.fixture
def fresh_runtime() -> Iterator[None]:
    """Forget the container singletons before and after a test."""

    def clear() -> None:
        app_module.set_default_app(None)
        for cached in (runtime.settings, runtime.secrets_client, runtime.lambda_client):
            cached.cache_clear()

    clear()
    yield
    clear()


@pytest.mark.usefixtures("fresh_runtime")
def test_build_app_creates_no_aws_clients() -> None:
    build_app(Settings(token_secret_ids=("a",), refresh_function_name="fn"))
    assert runtime.secrets_client.cache_info().currsize == 0
    assert runtime.lambda_client.cache_info().currsize == 0


@pytest.mark.usefixtures("fresh_runtime")
def test_handle_misconfigured_environment_is_500_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSTREAM_TIMEOUT_SECONDS", "45")
    response = app_module.handle(load_event("proxy-get-accounts"), None)
    assert response["statusCode"] == HTTPStatus.INTERNAL_SERVER_ERROR
    assert "UPSTREAM_TIMEOUT_SECONDS" in body_of(response)["message"]


@pytest.mark.usefixtures("fresh_runtime")
def test_handle_misconfigured_environment_direct_invoke_is_ok_false(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RINGCX_SERVER_URL", "ftp://nope")
    response = app_module.handle({"staleGeneration": 1}, None)
    assert response["ok"] is False
    assert response["statusCode"] == HTTPStatus.INTERNAL_SERVER_ERROR


def test_import_does_no_io_and_leaves_boto3_unimported() -> None:
    # Given a fresh interpreter, like a Lambda cold start
    code = (
        "import sys, importlib.util\n"
        "spec = importlib.util.spec_from_file_location('fn', 'functions/proxy/app.py')\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "from ringcx_broker import runtime\n"
        "print('boto3' in sys.modules, runtime.settings.cache_info().currsize)\n"
    )
    # When the handler module is imported
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PYTHONPATH": "layers/auth", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # Then boto3 is not imported and the environment was not read
    assert result.stdout.split() == ["False", "0"]


@dataclass
class FakeLambdaContext:
    function_name: str = "ringcx-broker-ProxyFunction"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = (
        "arn:aws:lambda:us-east-1:123456789012:function:ringcx-broker-ProxyFunction"
    )
    aws_request_id: str = "4f0d5a0e-0000-4000-8000-000000000000"


def load_function_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "proxy_function_under_test", ROOT / "functions/proxy/app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lambda_handler_never_logs_the_event(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an operator who turned on Powertools' event logging by environment
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    function = load_function_module()
    event = load_event("proxy-no-request-context")
    event["headers"]["Authorization"] = "AWS4-HMAC-SHA256 Credential=MARKER-CREDENTIAL"
    # When the handler runs
    response = function.lambda_handler(event, FakeLambdaContext())
    # Then it answers, and the event (with the caller's credentials) is not in the logs
    assert response["statusCode"] == HTTPStatus.BAD_REQUEST
    assert "MARKER-CREDENTIAL" not in capsys.readouterr().out
