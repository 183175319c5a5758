"""ExchangeFunction: a RingCentral login (posted RC token, or the stored JWT)
becomes a RingCX token pair, stored as the ring's next generation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from ringcx_broker.account_pin import AccountPin, main_account_of
from ringcx_broker.errors import (
    BadRequest,
    BrokerError,
    RateLimited,
    RingWriteConflict,
    SecretStoreUnavailable,
    TokenPersistFailed,
)
from ringcx_broker.events import (
    api_response,
    direct_error,
    error_response,
    has_lone_surrogate,
    internal_error,
    is_api_event,
    parse_fields,
)
from ringcx_broker.ring import TokenRing
from ringcx_broker.ringcx import RingCXClient
from ringcx_broker.timing import DEFAULT_LIFETIME_SECONDS, Clock, system_clock
from ringcx_broker.tokens import StoredToken, TokenGrant
from ringcx_broker.write_budget import WriteBudget

logger = Logger(child=True)


class Login(Protocol):
    def login(self) -> TokenGrant: ...


DEFAULT_COOLDOWN = 60.0  # seconds between two stored logins from the exchange


class Exchanger:
    """Posted RC token or stored JWT -> the ring's next generation.

    Before any upstream call: a cooldown after the last stored login (shared
    through the ring, so every container sees it) and the ring's write budget.
    After the login: the account pin (``account_pin``).
    """

    def __init__(
        self,
        ring: TokenRing,
        ringcx: RingCXClient,
        login: Login,
        clock: Clock = system_clock,
        budget: WriteBudget | None = None,
        expected_main_account: str | None = None,
        cooldown: float = DEFAULT_COOLDOWN,
    ) -> None:
        self._ring = ring
        self._ringcx = ringcx
        self._login = login
        self._clock = clock
        self._budget = budget
        self._expected_main_account = expected_main_account
        self._cooldown = cooldown

    def exchange(self, rc_access_token: str | None, replace_account: bool = False) -> StoredToken:
        """Log in and store the result; a posted RC token skips the JWT login."""
        newest = self._ring.newest()
        self._check_cooldown(newest)
        if self._budget is not None:  # before any auth call is spent
            lifetime = newest.lifetime if newest else DEFAULT_LIFETIME_SECONDS
            self._budget.check(lifetime, "the exchange")
        if rc_access_token:
            grant, source = self._ringcx.exchange(rc_access_token), "exchange"
        else:
            grant, source = self._login.login(), "login"
        pin = AccountPin.of(self._expected_main_account, newest)
        if pin is not None:
            pin.check(grant.account, replace_account)
            if main_account_of(grant.account) != pin.main_account:
                logger.warning(
                    "Switching the token chain to another RingCX account, as asked",
                    extra={"from": pin.main_account, "to": main_account_of(grant.account)},
                )
        return store_grant(self._ring, grant, self._clock(), source, newest)

    def _check_cooldown(self, newest: StoredToken | None) -> None:
        if newest is None or newest.source not in LOGIN_SOURCES:
            return
        wait = newest.refreshed_at + self._cooldown - self._clock()
        if wait > 0:
            seconds = max(1, int(wait + 0.999))
            raise RateLimited(
                f"an exchange stored generation {newest.generation} moments ago; "
                f"the next one is accepted in {seconds} s",
                seconds,
            )


LOGIN_SOURCES = frozenset({"exchange", "login"})


def store_grant(
    ring: TokenRing,
    grant: TokenGrant,
    now: float,
    source: str,
    newest: StoredToken | None = None,
) -> StoredToken:
    """Write a fresh login as the next generation (after ``newest``, if the
    caller already read it).

    A login starts a new, independent refresh chain, so losing a race to
    another writer is harmless: we take the generation after the winner's.
    """
    newest = newest if newest is not None else ring.newest()
    for _ in range(2):
        token = StoredToken.from_grant(grant, (newest.generation if newest else 0) + 1, now, source)
        try:
            stored = ring.store(token)
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
        logger.info("Stored login", extra={"generation": stored.generation, "source": source})
        return stored
    raise RingWriteConflict("the token ring kept changing while storing a login; try again")


# rcTokenType is accepted as RingCX's own form has it; only "Bearer" exists.
EXCHANGE_FIELDS = frozenset({"rcAccessToken", "rcTokenType", "replaceAccount"})
EXPECTED_BODY = (
    'send {"rcAccessToken": "..."}, or an empty body or {} to log in with the stored JWT'
)


@dataclass(frozen=True, slots=True)
class ExchangeRequest:
    rc_access_token: str | None = None  # None: log in with the stored JWT
    replace_account: bool = False

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> ExchangeRequest:
        """Only an empty body or ``{}`` (optionally with ``replaceAccount``)
        means "log in with the stored JWT": a login spends two calls of a
        5-per-minute budget and starts a new chain, so a malformed request
        (say curl's ``-d 'not json'``) must never trigger one. Unknown field
        names are not echoed: a caller who posts a token as the whole form
        body would see it in the reply and in our logs.
        """
        if not set(fields) <= EXCHANGE_FIELDS:
            raise BadRequest(
                f"the request body has fields the exchange does not know; {EXPECTED_BODY}"
            )
        replace = _flag(fields.get("replaceAccount", False))
        if "rcAccessToken" not in fields:
            if "rcTokenType" in fields:
                raise BadRequest(f"rcTokenType without rcAccessToken; {EXPECTED_BODY}")
            return cls(None, replace)
        token_type = fields.get("rcTokenType", "Bearer")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise BadRequest("rcTokenType must be Bearer")
        value = fields["rcAccessToken"]
        if not isinstance(value, str) or not value.strip():
            raise BadRequest("rcAccessToken must be a non-empty string")
        if has_lone_surrogate(value):  # a direct invoke's JSON may carry one
            raise BadRequest("rcAccessToken holds a lone surrogate: it is not valid text")
        return cls(value.strip(), replace)


def _flag(value: object) -> bool:
    """``replaceAccount``: a JSON boolean, or "true"/"false" from a form."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise BadRequest("replaceAccount must be true or false")


def rc_token_from(fields: Mapping[str, Any]) -> str | None:
    """The posted RC token, or None for "log in with the stored JWT"."""
    return ExchangeRequest.from_fields(fields).rc_access_token


def handle(event: Any, exchanger: Exchanger, clock: Clock = system_clock) -> dict[str, Any]:
    """Serve an API Gateway request or a direct invoke."""
    api = is_api_event(event)
    try:
        fields = parse_fields(event) if api else _direct_fields(event)
        request = ExchangeRequest.from_fields(fields)
        token = exchanger.exchange(request.rc_access_token, request.replace_account)
    except BrokerError as error:
        # "error" names the refusal (WriteBudgetExceeded, RateLimited, ...): a
        # metric filter counts the write budget's refusals by it.
        logger.warning(
            "Exchange failed",
            extra={
                "status": int(error.status),
                "error": type(error).__name__,
                "reason": error.message,
            },
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
