"""Read ``iat``/``exp`` from a JWT without verifying it.

The broker does not need to trust the token (RingCX signed it and checks it);
it only needs to know how long the token lives so timing follows the token.
"""

from __future__ import annotations

import base64
import binascii
import json
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
    """The token's validity window, or ``now + 300 s`` if it is not a JWT."""
    claims = _claims(token)
    exp, iat = claims.get("exp"), claims.get("iat")
    if _is_number(exp):
        issued = float(iat) if _is_number(iat) else now  # type: ignore[arg-type]
        expires = float(exp)  # type: ignore[arg-type]
        if expires > issued:
            return Lifetime(issued, expires)
    return Lifetime(now, now + DEFAULT_LIFETIME_SECONDS)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


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
