"""HS256 JWTs for RingCX access tokens and opaque tokens for everything else.

Real JWTs (not random strings) let clients under test read `exp` the way they
would with RingCX, and let the simulator tell "expired" from "garbled".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

_HEADER = {"alg": "HS256", "typ": "JWT"}


class TokenError(Exception):
    """The token is not a well-formed JWT signed with our key."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The claims the simulator puts in, and later checks on, a RingCX access token."""

    iat: int
    exp: int
    sub: str
    account_id: str
    jti: str

    def expired(self, now: float) -> bool:
        """RingCX treats a token as expired from the `exp` second on."""
        return now >= self.exp


def opaque_token() -> str:
    """A random token for RC access/refresh tokens and RingCX refresh tokens."""
    return secrets.token_urlsafe(32)


def b64url_encode(data: bytes) -> str:
    """Base64url without padding, as JWTs use it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url decoding; padding is optional."""
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TokenError("bad base64url") from exc


def mint_access_token(
    key: bytes, now: float, lifetime: float, sub: str, account_id: str
) -> tuple[str, AccessClaims]:
    """Sign a new access token; `exp - iat` is the lifetime rounded to whole seconds (>= 1)."""
    iat = math.floor(now)
    claims = AccessClaims(
        iat=iat,
        exp=iat + max(1, round(lifetime)),
        sub=sub,
        account_id=account_id,
        jti=secrets.token_hex(16),
    )
    payload = {
        "iat": claims.iat,
        "exp": claims.exp,
        "sub": claims.sub,
        "accountId": claims.account_id,
        "jti": claims.jti,
    }
    signing_input = f"{_segment(_HEADER)}.{_segment(payload)}"
    return f"{signing_input}.{_sign(key, signing_input)}", claims


def verify_access_token(token: str, key: bytes) -> AccessClaims:
    """Check structure, algorithm and signature; expiry is the caller's business."""
    parts = token.split(".")
    if not token.isascii() or len(parts) != 3:
        raise TokenError("not a JWT")
    header = _load(parts[0])
    if header.get("alg") != "HS256":
        raise TokenError("unexpected alg")
    if not hmac.compare_digest(_sign(key, f"{parts[0]}.{parts[1]}"), parts[2]):
        raise TokenError("bad signature")
    payload = _load(parts[1])
    try:
        return AccessClaims(
            iat=_int_claim(payload, "iat"),
            exp=_int_claim(payload, "exp"),
            sub=str(payload["sub"]),
            account_id=str(payload["accountId"]),
            jti=str(payload["jti"]),
        )
    except KeyError as exc:
        raise TokenError(f"missing claim {exc}") from exc


def _segment(obj: Mapping[str, object]) -> str:
    return b64url_encode(json.dumps(obj, separators=(",", ":")).encode("utf-8"))


def _sign(key: bytes, signing_input: str) -> str:
    return b64url_encode(hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest())


def _load(segment: str) -> dict[str, object]:
    try:
        value = json.loads(b64url_decode(segment))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TokenError("segment is not JSON") from exc
    if not isinstance(value, dict):
        raise TokenError("segment is not a JSON object")
    return value


def _int_claim(payload: dict[str, object], name: str) -> int:
    value = payload[name]
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TokenError(f"claim {name} is not an integer")
