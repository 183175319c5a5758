"""The fuzzed components wired to the unit tests' fakes, and the properties
every reply must have.

Each world is built fresh per example (a few dictionaries; no I/O), so no
example depends on another. Every upstream works: the proxy's answers like an
echo server that reflects the bearer token (and the refresh token) back, the
exchange's RingCX accepts any RC token, the refresher's RingCX rotates. So a
5xx can only be the broker's own failure.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

import urllib3

from ringcx_broker.exchange import Exchanger
from ringcx_broker.proxy.app import ProxyApp
from ringcx_broker.proxy.forward import Upstream
from ringcx_broker.proxy.token_source import TokenSource
from ringcx_broker.ratelimit import RateGate
from ringcx_broker.refresher import Refresher
from ringcx_broker.ring import TokenRing
from ringcx_broker.ringcx import RingCXClient
from ringcx_broker.settings import Settings
from ringcx_broker.timing import TimingPolicy
from ringcx_broker.tokens import StoredToken, TokenGrant
from tests.unit.core.fakes import (
    FakeClock,
    FakeLogin,
    FakePool,
    FakeRingCX,
    FakeSecretsManager,
    RecordingMetrics,
    RecordingSleep,
    http_response,
    login_reply,
    make_jwt,
    make_token,
)
from tests.unit.proxy.fakes import (
    FakeInvoker,
    FakeOriginPool,
    SentRequest,
    store,
    upstream_response,
)

RINGCX = "https://engage.ringcentral.com"
VOICE_PREFIX = "/voice/api/"
ALLOWED_METHODS = frozenset({"GET", "POST"})
INTERNAL_ERROR = HTTPStatus.INTERNAL_SERVER_ERROR

# A traceback, a frame line, or an exception's repr (``KeyError('x')``).
_TRACE = re.compile(
    r"Traceback \(most recent call last\)|File \"[^\"]*\", line \d+|\b[A-Z]\w*(?:Error|Exception)\("
)
# Never in a reply: hop-by-hop framing, cookies, and the header the echo's
# Connection header names.
_NEVER_RETURNED = {"connection", "keep-alive", "transfer-encoding", "set-cookie", "x-hop-secret"}


def _secrets_of(tokens: Iterator[StoredToken | TokenGrant]) -> set[str]:
    return {s for t in tokens for s in (t.access_token, t.refresh_token) if s}


def texts_of(reply: Any) -> list[str]:
    """The reply as Lambda would serialise it, plus a base64 body decoded."""
    texts = [json.dumps(reply)]
    if isinstance(reply, dict) and reply.get("isBase64Encoded") is True:
        texts.append(base64.b64decode(reply["body"]).decode("latin-1"))
    if isinstance(reply, dict) and isinstance(reply.get("body"), str):
        texts.append(reply["body"])
    return texts


def assert_discreet(reply: Any, secrets: set[str]) -> None:
    """No traceback or exception repr, and no token, anywhere in the reply."""
    for text in texts_of(reply):
        trace = _TRACE.search(text)
        assert trace is None, f"the reply shows a trace: {trace.group(0)!r}"
        leaked = [s for s in secrets if s in text]
        assert not leaked, "the reply carries a token"


def assert_api_reply(reply: Any) -> int:
    """A well-formed API Gateway proxy reply below 500; returns its status."""
    assert isinstance(reply, dict), f"not an API Gateway reply: {type(reply).__name__}"
    status = reply["statusCode"]
    assert isinstance(status, int)
    assert status < INTERNAL_ERROR, f"HTTP {status}: {reply.get('body', '')[:200]}"
    assert isinstance(reply["body"], str)
    headers = reply.get("multiValueHeaders") or {k: [v] for k, v in reply["headers"].items()}
    assert all(isinstance(v, str) for values in headers.values() for v in values)
    assert not {name.lower() for name in headers} & _NEVER_RETURNED
    return status


def assert_direct_reply(reply: Any) -> None:
    """``{"ok": true, ...}``, or ``{"ok": false, "statusCode": N}`` with N < 500."""
    assert isinstance(reply, dict), f"not a JSON object: {type(reply).__name__}"
    if reply.get("ok") is True:
        return
    assert reply.get("ok") is False
    assert isinstance(reply.get("statusCode"), int)
    assert reply["statusCode"] < INTERNAL_ERROR, f"{reply['statusCode']}: {reply.get('message')}"


def assert_inside_voice_api(sent: SentRequest) -> None:
    """The request went to RingCX's origin, under /voice/api/, with no way out."""
    url = urlsplit(sent.origin + sent.target)
    assert (url.scheme, url.netloc) == ("https", "engage.ringcentral.com")
    assert sent.target.startswith(VOICE_PREFIX)
    decoded = url.path
    for _ in range(5):
        decoded = unquote(decoded)
    assert not {".", ".."} & {part.strip() for part in decoded.split("/")}
    assert sent.method in ALLOWED_METHODS


# -- the proxy -------------------------------------------------------------------


def _slots(secrets: FakeSecretsManager, count: int) -> tuple[str, ...]:
    return tuple(
        secrets.create_secret(Name=f"fuzz-slot-{i}", SecretString="{}")["ARN"] for i in range(count)
    )


@dataclass
class ProxyWorld:
    app: ProxyApp
    pool: FakeOriginPool
    token: StoredToken

    @property
    def secrets(self) -> set[str]:
        return _secrets_of(iter([self.token]))


def _echo(refresh_token: str) -> Callable[[SentRequest], urllib3.HTTPResponse]:
    """An upstream that reflects everything, the bearer token included, plus
    the refresh token and a header its ``Connection`` header names."""

    def answer(sent: SentRequest) -> urllib3.HTTPResponse:
        body = sent.body or b""
        text = body.decode("utf-8", "replace")
        payload = {
            "method": sent.method,
            "target": sent.target,
            "headers": sent.headers,
            "bodyText": text,
            "bodyBase64": base64.b64encode(body).decode(),
            "refresh": refresh_token,
        }
        binary = sent.headers.get("Content-Type") == "application/octet-stream"
        authorization = sent.headers["Authorization"]
        data = body + authorization.encode() if binary else json.dumps(payload).encode()
        headers = [
            ("Content-Type", "application/octet-stream" if binary else "application/json"),
            ("X-Echo-Authorization", authorization),
            ("Connection", "keep-alive, X-Hop-Secret"),
            ("X-Hop-Secret", refresh_token),
            ("Set-Cookie", "session=1"),
        ]
        return upstream_response(200, data, headers)

    return answer


def proxy_world() -> ProxyWorld:
    clock = FakeClock()
    secrets = FakeSecretsManager()
    slots = _slots(secrets, 3)
    ring = TokenRing(secrets, slots)
    token = make_token(1, refresh_token="rcx-refresh-fuzz-7f3a9c0e")
    store(secrets, ring, token)
    settings = Settings(ringcx_url=RINGCX, token_secret_ids=slots, allowed_methods=ALLOWED_METHODS)
    tokens = TokenSource(
        lambda: ring, FakeInvoker(), TimingPolicy(), clock=clock, sleep=RecordingSleep(clock)
    )
    assert token.refresh_token is not None
    pool = FakeOriginPool(answer=_echo(token.refresh_token))
    app = ProxyApp(settings, tokens, Upstream(RINGCX, pool, 5), clock=clock)
    return ProxyWorld(app, pool, token)


# -- the exchange ------------------------------------------------------------------


@dataclass
class ExchangeWorld:
    exchanger: Exchanger
    pool: FakePool
    ringcx: FakeRingCX
    secrets_manager: FakeSecretsManager
    seeded: StoredToken
    posted_grant_tokens: set[str] = field(default_factory=set)

    @property
    def secrets(self) -> set[str]:
        issued = _secrets_of(iter([self.seeded, *self.ringcx.issued]))
        return issued | self.posted_grant_tokens


EXCHANGE_URL = f"{RINGCX}/api/auth/login/rc/accesstoken?includeRefresh=true"


def exchange_world() -> ExchangeWorld:
    """RingCX's exchange answers once with a fresh pair; the JWT login works."""
    clock = FakeClock()
    secrets = FakeSecretsManager()
    ring = TokenRing(secrets.client, _slots(secrets, 3), sleep=RecordingSleep())
    seeded = make_token(1, refresh_token="rcx-refresh-seeded-51e2")
    store(secrets, ring, seeded)
    access = make_jwt(clock(), clock() + 300, jti="fuzz-exchanged")
    refresh = "rcx-refresh-exchanged-9d41"
    pool = FakePool(http_response(200, login_reply(access, refresh)))
    client = RingCXClient(RINGCX, pool=pool.client, gate=RateGate(clock), clock=clock)
    ringcx = FakeRingCX(clock)
    exchanger = Exchanger(ring, client, FakeLogin(ringcx), clock)
    return ExchangeWorld(exchanger, pool, ringcx, secrets, seeded, {access, refresh})


# -- the refresher ---------------------------------------------------------------


@dataclass
class RefresherWorld:
    refresher: Refresher
    ringcx: FakeRingCX
    secrets_manager: FakeSecretsManager
    clock: FakeClock

    @property
    def secrets(self) -> set[str]:
        return _secrets_of(iter(self.ringcx.issued))

    @property
    def writes(self) -> int:
        return self.secrets_manager.count("PutSecretValue")


def refresher_world() -> RefresherWorld:
    """The ring holds a fresh generation 1 whose refresh token RingCX will honour."""
    clock = FakeClock()
    secrets = FakeSecretsManager()
    ring = TokenRing(secrets.client, _slots(secrets, 3), sleep=RecordingSleep())
    ringcx = FakeRingCX(clock)
    store(secrets, ring, StoredToken.from_grant(ringcx.issue(), 1, clock(), "login"))
    refresher = Refresher(
        ring,
        ringcx.client,
        FakeLogin(ringcx),
        TimingPolicy(),
        clock=clock,
        sleep=RecordingSleep(clock),
        metrics=RecordingMetrics(),
        jitter=lambda: 0.5,
    )
    return RefresherWorld(refresher, ringcx, secrets, clock)
