"""ExchangeFunction: a RingCentral login (posted RC token, or the stored JWT)
becomes a RingCX token pair, stored as the ring's next generation."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from ringcx_broker.errors import (
    BadRequest,
    BrokerError,
    RingWriteConflict,
    SecretStoreUnavailable,
    TokenPersistFailed,
)
from ringcx_broker.events import (
    api_response,
    direct_error,
    error_response,
    internal_error,
    is_api_event,
    parse_fields,
)
from ringcx_broker.ring import TokenRing
from ringcx_broker.ringcx import RingCXClient
from ringcx_broker.timing import Clock, system_clock
from ringcx_broker.tokens import StoredToken, TokenGrant

logger = Logger(child=True)


class Login(Protocol):
    def login(self) -> TokenGrant: ...


class Exchanger:
    def __init__(
        self, ring: TokenRing, ringcx: RingCXClient, login: Login, clock: Clock = system_clock
    ) -> None:
        self._ring = ring
        self._ringcx = ringcx
        self._login = login
        self._clock = clock

    def exchange(self, rc_access_token: str | None) -> StoredToken:
        """Log in and store the result; a posted RC token skips the JWT login."""
        if rc_access_token:
            grant, source = self._ringcx.exchange(rc_access_token), "exchange"
        else:
            grant, source = self._login.login(), "login"
        return store_grant(self._ring, grant, self._clock(), source)


def store_grant(ring: TokenRing, grant: TokenGrant, now: float, source: str) -> StoredToken:
    """Write a fresh login as the next generation.

    A login starts a new, independent refresh chain, so losing a race to
    another writer is harmless: we take the generation after the winner's.
    """
    newest = ring.newest()
    for _ in range(2):
        token = StoredToken.from_grant(grant, (newest.generation if newest else 0) + 1, now, source)
        try:
            ring.write(token)
        except SecretStoreUnavailable as exc:
            # The login itself spent nothing: the previous chain, if any, still
            # works, so the caller can simply retry once Secrets Manager recovers.
            logger.error(
                "RingCX issued tokens that could not be stored; the login is discarded",
                extra={"generation": token.generation, "reason": exc.message},
            )
            raise TokenPersistFailed(
                f"the new tokens could not be stored: {exc.message}; retry later"
            ) from exc
        except RingWriteConflict:
            logger.info(
                "Lost a ring race; storing after the winner", extra={"generation": token.generation}
            )
            newest = ring.newest()
            continue
        logger.info("Stored login", extra={"generation": token.generation, "source": source})
        return token
    raise RingWriteConflict("the token ring kept changing while storing a login; try again")


# rcTokenType is accepted as RingCX's own form has it; only "Bearer" exists.
EXCHANGE_FIELDS = frozenset({"rcAccessToken", "rcTokenType"})
EXPECTED_BODY = (
    'send {"rcAccessToken": "..."}, or an empty body or {} to log in with the stored JWT'
)


def rc_token_from(fields: Mapping[str, Any]) -> str | None:
    """The posted RC token, or None for "log in with the stored JWT".

    Only an empty body or ``{}`` means the latter: a login spends two calls of
    a 5-per-minute budget and starts a new chain, so a malformed request (say
    curl's ``-d 'not json'``) must never trigger one. Unknown field names are
    not echoed: a caller who posts a token as the whole form body would see it
    in the reply and in our logs.
    """
    if not fields:
        return None
    if not set(fields) <= EXCHANGE_FIELDS or "rcAccessToken" not in fields:
        raise BadRequest(f"the request body has fields the exchange does not know; {EXPECTED_BODY}")
    token_type = fields.get("rcTokenType", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise BadRequest("rcTokenType must be Bearer")
    value = fields["rcAccessToken"]
    if not isinstance(value, str) or not value.strip():
        raise BadRequest("rcAccessToken must be a non-empty string")
    return value.strip()


def handle(event: Any, exchanger: Exchanger, clock: Clock = system_clock) -> dict[str, Any]:
    """Serve an API Gateway request or a direct invoke."""
    api = is_api_event(event)
    try:
        fields = parse_fields(event) if api else _direct_fields(event)
        token = exchanger.exchange(rc_token_from(fields))
    except BrokerError as error:
        logger.warning(
            "Exchange failed", extra={"status": int(error.status), "reason": error.message}
        )
        return error_response(error) if api else direct_error(error)
    except Exception as exc:  # a bug: log its type only, a traceback may quote a token
        logger.error("Exchange crashed", extra={"error": type(exc).__name__})
        crash = internal_error()
        return error_response(crash) if api else direct_error(crash)
    summary = {"ok": True, **token.summary(clock(), agents=True)}
    return api_response(HTTPStatus.OK, summary) if api else summary


def _direct_fields(event: Any) -> dict[str, Any]:
    if event is None:
        return {}
    if not isinstance(event, dict):
        raise BadRequest('a direct invoke must be {} or {"rcAccessToken": "..."}')
    return event
