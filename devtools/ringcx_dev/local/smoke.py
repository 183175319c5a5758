"""``--smoke``: a scripted session against the running local stack, for CI.

Why over real loopback HTTP: CI should exercise what a user's ``curl`` does -
the local API, the proxy event, the proxy, the simulator - not a shortcut.
Steps: the bootstrap exchange, three refreshes driven by the (fast) schedule,
a proxied GET and POST, ``/health``, a GET made by the caller client
(``ringcx_broker_client``, signing for real) and, when SigV4 is verified (it
is in ``--smoke``), an unsigned request that must get API Gateway's 403.
Each step is reported; any failure makes the exit status 1.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from botocore.credentials import Credentials, ReadOnlyCredentials

from ringcx_broker_client import BrokerClient, BrokerClientError, RetryPolicy
from ringcx_broker_client.signing import signed_headers
from ringcx_dev.local.console import Console
from ringcx_dev.local.runner import LocalRun, wait_for
from ringcx_dev.local.sigv4 import SigningKey

SMOKE_TOKEN_LIFETIME = 6.0
SMOKE_TICK_SECONDS = 0.5
ECHO_PATH = "/voice/api/v1/echo"
ACCOUNTS_PATH = "/voice/api/v1/admin/accounts"


class SmokeFailure(Exception):
    """A step's expectation was not met."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    ok: bool
    detail: str
    seconds: float


def http_call(
    base_url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 35.0,
) -> tuple[int, dict[str, str], bytes]:
    """One request with http.client (no proxy variables, no retries); repeated headers join."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port, timeout=timeout
    )
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        received: dict[str, str] = {}
        for name, value in response.getheaders():
            key = name.lower()
            received[key] = f"{received[key]}, {value}" if key in received else value
        return response.status, received, response.read()
    finally:
        connection.close()


def signing_key(run: LocalRun) -> SigningKey:
    """The key the run verifies against (the defaults when it verifies nothing)."""
    return run.verifier.key if run.verifier is not None else SigningKey.from_env({})


def signed_call(
    run: LocalRun,
    method: str,
    target: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """``http_call`` to the local API, SigV4-signed (botocore) with the run's key."""
    key = signing_key(run)
    credentials = ReadOnlyCredentials(key.access_key_id, key.secret_access_key, key.session_token)
    signed = signed_headers(
        method, run.api_url + target, body or b"", headers or {}, credentials, run.region
    )
    return http_call(run.api_url, method, target, body=body, headers=signed)


def run_smoke(run: LocalRun, console: Console, refreshes: int = 3) -> bool:
    """Run the scripted session and print the report; True when every step passed."""
    started = time.monotonic()
    steps = [
        _step("exchange (bootstrap, stored JWT)", lambda: _exchange(run)),
        _step(f"{refreshes} scheduled refreshes", lambda: _refreshes(run, refreshes)),
    ]
    for scheduler in run.schedulers:
        scheduler.stop()  # quiet from here on: the refresh endpoint allows 5 calls a minute
    steps += [
        _step(f"proxied GET {ACCOUNTS_PATH}", lambda: _get_accounts(run)),
        _step(f"proxied POST {ECHO_PATH}", lambda: _post_echo(run)),
        _step("GET /health", lambda: _health(run)),
        _step("client GET (ringcx_broker_client)", lambda: _client_get(run)),
    ]
    if run.verifier is not None:
        steps.append(_step("unsigned GET is refused", lambda: _unsigned(run)))
    steps.append(_step("simulator protocol counters", lambda: _counters(run)))
    passed = all(s.ok for s in steps)
    console.print("")
    console.print("smoke report")
    for step in steps:
        mark = "PASS" if step.ok else "FAIL"
        console.print(f"  {mark}  {step.name:<42} {step.seconds:6.2f} s  {step.detail}")
    verdict = "passed" if passed else "FAILED"
    console.print(f"smoke {verdict} in {time.monotonic() - started:.1f} s")
    return passed


def _step(name: str, action: Callable[[], str]) -> Step:
    started = time.monotonic()
    try:
        detail = action()
        ok = True
    except SmokeFailure as exc:
        detail, ok = str(exc), False
    except Exception as exc:  # a step must report, never abort the report
        detail, ok = f"{type(exc).__name__}: {exc}", False
    return Step(name, ok, detail, time.monotonic() - started)


def _exchange(run: LocalRun) -> str:
    result = run.bootstrap_result or {}
    _check(result.get("ok") is True, f"exchange returned {result}")
    return f"generation {result.get('generation')}, {result.get('secondsLeft')} s left"


def _refreshes(run: LocalRun, wanted: int) -> str:
    tracker = run.tracker
    if tracker is None or not run.schedulers:
        raise SmokeFailure("the template has no schedule to drive")
    scheduler = run.schedulers[0]
    lifetime = run.config.token_lifetime
    start_generation = tracker.generation or 0

    def placeholder() -> bool:
        results = tracker.refresh_results
        return scheduler.ticks >= 3 and not any("ok" in r for r in results)

    done = wait_for(
        lambda: tracker.refreshes >= wanted or placeholder(),
        timeout=wanted * lifetime + 20.0,
        interval=0.05,
    )
    if placeholder():
        raise AssertionError(
            f"{scheduler.rule.function} answered {tracker.refresh_results[-1:]} to scheduled "
            "events: no 'ok' field (is the handler still a placeholder?)"
        )
    _check(
        done,
        (
            f"only {tracker.refreshes} refresh(es) after {scheduler.ticks} ticks; "
            f"failures: {tracker.failures[-3:]}"
        ),
    )
    return (
        f"generation {start_generation} -> {tracker.generation} in {scheduler.ticks} ticks "
        f"of {scheduler.period:g} s"
    )


def _get_accounts(run: LocalRun) -> str:
    status, _, body = signed_call(run, "GET", ACCOUNTS_PATH)
    _check(status == 200, f"HTTP {status}: {body[:200]!r}")
    accounts = json.loads(body)
    _check(isinstance(accounts, list) and bool(accounts), f"unexpected body {body[:200]!r}")
    return f"HTTP 200, account {accounts[0].get('accountId')}"


def _post_echo(run: LocalRun) -> str:
    payload = b'{"smoke": true}'
    status, _, body = signed_call(
        run,
        "POST",
        ECHO_PATH + "?a=1&a=2",
        body=payload,
        headers={"Content-Type": "application/json"},
    )
    _check(status == 200, f"HTTP {status}: {body[:200]!r}")
    echo: dict[str, Any] = json.loads(body)
    _check(echo.get("method") == "POST", f"upstream saw {echo.get('method')}")
    _check(echo.get("bodyText") == payload.decode(), f"upstream got body {echo.get('bodyText')!r}")
    # The simulator answers /voice/api only to a valid bearer token: the 200 proves
    # the proxy sent one (the echo itself need not, and should not, show it).
    return f"HTTP 200, body and query {echo.get('rawQuery')!r} reached upstream"


def _health(run: LocalRun) -> str:
    status, _, body = signed_call(run, "GET", "/health")
    _check(status == 200, f"HTTP {status}: {body[:200]!r}")
    health = json.loads(body)
    _check(isinstance(health, dict), f"unexpected body {body[:200]!r}")
    shown = {k: health[k] for k in ("generation", "secondsLeft", "expiresAt") if k in health}
    return f"HTTP 200, {shown}"


def _client_get(run: LocalRun) -> str:
    key = signing_key(run)
    client = BrokerClient(
        run.api_url,
        region=run.region,
        credentials=Credentials(key.access_key_id, key.secret_access_key, key.session_token),
        retry=RetryPolicy(max_attempts=1),
    )
    try:
        accounts = client.get(ACCOUNTS_PATH)
    except BrokerClientError as exc:
        raise SmokeFailure(f"{type(exc).__name__}: {exc}") from exc
    _check(isinstance(accounts, list) and bool(accounts), f"unexpected answer {accounts!r:.200}")
    checked = "signature verified" if run.verifier is not None else "signature not checked"
    return f"{len(accounts)} account(s), {checked}"


def _unsigned(run: LocalRun) -> str:
    status, headers, body = http_call(run.api_url, "GET", ACCOUNTS_PATH)
    _check(status == 403, f"HTTP {status}: {body[:200]!r}")
    error_type = headers.get("x-amzn-errortype")
    _check(error_type == "MissingAuthenticationTokenException", f"x-amzn-ErrorType {error_type}")
    return f"HTTP 403 {json.loads(body).get('message')!r}"


def _counters(run: LocalRun) -> str:
    counters = run.counters() or {}
    protocol = counters.get("protocol", {})
    _check(protocol.get("spent_refresh_reuse", 0) == 0, "a spent refresh token was reused")
    keys = ("logins", "exchanges", "refresh_rotations", "expired_token_uses")
    return ", ".join(f"{k} {protocol.get(k, 0)}" for k in keys)
