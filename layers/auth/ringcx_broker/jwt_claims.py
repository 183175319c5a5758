"""Read ``iat``/``exp`` from a JWT without verifying it.

The broker does not need to trust the token (RingCX signed it and checks it);
it only needs to know how long the token lives so timing follows the token.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass

from ringcx_broker.timing import DEFAULT_LIFETIME_SECONDS


@dataclass(frozen=True, slots=True)
class Lifetime:
    issued_at: float
    expires_at: float

    @property
    def seconds(self) -> float:
        return self.expires_at - self.issued_at


def lifetime_of(token: str, now: float) -> Lifetime:
    """The token's validity window, or ``now + 300 s`` if it is not a JWT
    (or its claims are not usable numbers)."""
    claims = _claims(token)
    expires = _seconds(claims.get("exp"))
    issued = _seconds(claims.get("iat"))
    issued = now if issued is None else issued
    if expires is not None and expires > issued:
        return Lifetime(issued, expires)
    return Lifetime(now, now + DEFAULT_LIFETIME_SECONDS)


def _seconds(value: object) -> float | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except OverflowError:
        return None
    return seconds if math.isfinite(seconds) else None


def _claims(token: str) -> dict[str, object]:
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        decoded = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return {}
    return decoded if isinstance(decoded, dict) else {}
