"""jwt_claims.py: timing comes from the token, 300 s if it is not a JWT."""

from __future__ import annotations

import base64
import json

import pytest

from ringcx_broker.jwt_claims import Lifetime, lifetime_of
from tests.unit.core.fakes import T0, b64url, make_jwt

NOW = T0 + 7.0
FALLBACK = Lifetime(NOW, NOW + 300.0)


def _jwt_with(payload: object, raw: bytes | None = None) -> str:
    """A three-part token with an arbitrary (possibly invalid) payload."""
    body = raw if raw is not None else json.dumps(payload).encode()
    return f"{b64url(b'{}')}.{b64url(body)}.sig"


def test_lifetime_of_jwt_with_iat_and_exp_uses_both() -> None:
    # Given a RingCX-style JWT issued at T0 that lives 300 s
    token = make_jwt(iat=T0, exp=T0 + 300)

    # When its lifetime is read a few seconds later
    life = lifetime_of(token, NOW)

    # Then the window is the token's own, not "now + 300"
    assert life == Lifetime(T0, T0 + 300)
    assert life.seconds == 300


@pytest.mark.parametrize("seconds", [15, 20, 299.5, 3600])
def test_lifetime_of_short_or_long_jwt_follows_the_token(seconds: float) -> None:
    # Given a token whose lifetime is not 300 s
    token = make_jwt(iat=T0, exp=T0 + seconds)

    # When its lifetime is read
    life = lifetime_of(token, NOW)

    # Then nothing is hard-coded: the token decides
    assert life.seconds == pytest.approx(seconds)


def test_lifetime_of_jwt_without_iat_starts_now() -> None:
    # Given a JWT with exp but no iat
    token = make_jwt(iat=None, exp=NOW + 120)

    # When its lifetime is read
    life = lifetime_of(token, NOW)

    # Then it is issued "now" and expires at exp
    assert life == Lifetime(NOW, NOW + 120)


@pytest.mark.parametrize(
    "iat", ["1800000000", True, None, [1]], ids=["string", "bool", "null", "list"]
)
def test_lifetime_of_jwt_with_non_numeric_iat_starts_now(iat: object) -> None:
    # Given a JWT whose iat is not a number
    token = _jwt_with({"iat": iat, "exp": NOW + 60})

    # When its lifetime is read
    life = lifetime_of(token, NOW)

    # Then iat is ignored and exp still counts
    assert life == Lifetime(NOW, NOW + 60)


@pytest.mark.parametrize("filler", ["", "a", "ab", "abc"], ids=["pad0", "pad1", "pad2", "pad3"])
def test_lifetime_of_unpadded_payload_of_any_length_decodes(filler: str) -> None:
    # Given JWTs whose base64url payload needs 0-3 padding characters (JWTs strip them)
    token = make_jwt(iat=T0, exp=T0 + 300, f=filler)
    assert "=" not in token

    # When the lifetime is read
    life = lifetime_of(token, NOW)

    # Then the padding is restored and the claims are read
    assert life == Lifetime(T0, T0 + 300)


def test_lifetime_of_payload_with_urlsafe_alphabet_decodes() -> None:
    # Given a payload whose base64url form contains '-' and '_'
    token = make_jwt(iat=T0, exp=T0 + 300, x="?>?>?>~~~")
    payload = token.split(".")[1]
    assert "-" in payload
    assert "_" in payload

    # When the lifetime is read
    life = lifetime_of(token, NOW)

    # Then the URL-safe alphabet is honoured
    assert life == Lifetime(T0, T0 + 300)


@pytest.mark.parametrize(
    "token",
    [
        "opaque-access-token",
        "",
        "a.b",
        "a.b.c.d",
        "header..signature",
        "a.!!!!.c",
        "a.\u00e9\u00e9\u00e9\u00e9.c",
        "a.abcde.c",
        _jwt_with(None, raw=b"not json"),
        _jwt_with(None, raw=b"\xff\xfe\xfd"),
        _jwt_with([1800000300]),
        _jwt_with("exp"),
        _jwt_with({}),
        _jwt_with({"iat": T0}),
        _jwt_with({"exp": "1800000300"}),
        _jwt_with({"exp": True}),
        _jwt_with({"exp": None}),
        _jwt_with({"iat": T0, "exp": T0}),
        _jwt_with({"iat": T0 + 10, "exp": T0}),
        _jwt_with(None, raw=b'{"exp": NaN}'),
        base64.b64encode(b'{"exp": 1800000300}').decode(),
    ],
    ids=[
        "opaque",
        "empty",
        "two-parts",
        "four-parts",
        "empty-payload",
        "not-base64",
        "non-ascii",
        "bad-padding-length",
        "payload-not-json",
        "payload-not-utf8",
        "payload-array",
        "payload-string",
        "no-claims",
        "iat-only",
        "exp-string",
        "exp-bool",
        "exp-null",
        "exp-equals-iat",
        "exp-before-iat",
        "exp-nan",
        "bare-base64-json",
    ],
)
def test_lifetime_of_non_jwt_or_garbage_falls_back_to_300_seconds(token: str) -> None:
    # Given something that is not a JWT with a usable exp
    # When its lifetime is read
    life = lifetime_of(token, NOW)

    # Then the broker assumes RingCX's documented 300 s, counted from now
    assert life == FALLBACK


@pytest.mark.parametrize(
    "raw",
    [
        b'{"exp": 1' + b"0" * 400 + b"}",
        b'{"exp": 1e400}',
    ],
    ids=["exp-huge-int", "exp-infinite"],
)
def test_lifetime_of_jwt_with_out_of_range_exp_falls_back_to_300_seconds(raw: bytes) -> None:
    # Given a JWT whose iat/exp cannot be a real epoch (too big for a float, or infinite)
    token = _jwt_with(None, raw=raw)

    # When its lifetime is read
    life = lifetime_of(token, NOW)

    # Then it is treated like any other unusable claim: 300 s from now
    assert life == FALLBACK


def test_lifetime_of_jwt_with_out_of_range_iat_starts_now() -> None:
    # Given a JWT whose iat is too big for a float but whose exp is fine
    token = _jwt_with(None, raw=b'{"iat": 1' + b"0" * 400 + b', "exp": %d}' % (NOW + 60))

    # When its lifetime is read
    life = lifetime_of(token, NOW)

    # Then iat is ignored like any non-numeric iat, and exp still counts
    assert life == Lifetime(NOW, NOW + 60)
