"""Typed errors. Each carries the HTTP status the broker answers with and a
message that is safe to show: it never contains a token, JWT or secret."""

from __future__ import annotations

from http import HTTPStatus


class BrokerError(Exception):
    """Base of every error the broker reports to a caller."""

    status: HTTPStatus = HTTPStatus.BAD_GATEWAY

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_body(self) -> dict[str, object]:
        return {"message": self.message}


class BadRequest(BrokerError):
    status = HTTPStatus.BAD_REQUEST


class MethodNotAllowed(BrokerError):
    status = HTTPStatus.METHOD_NOT_ALLOWED


class NotFound(BrokerError):
    status = HTTPStatus.NOT_FOUND


class ConfigurationError(BrokerError):
    """The deployment is wrong (an environment variable, a missing secret)."""

    status = HTTPStatus.INTERNAL_SERVER_ERROR


class CredentialsNotConfigured(BrokerError):
    """No RingCentral JWT credentials are stored, so no login is possible."""

    status = HTTPStatus.SERVICE_UNAVAILABLE


class CredentialsInvalid(BrokerError):
    """The credentials secret exists but cannot be used as it is."""

    status = HTTPStatus.SERVICE_UNAVAILABLE


class CredentialsRejected(BrokerError):
    """RingCentral refused the stored client or JWT (400/401)."""

    status = HTTPStatus.BAD_GATEWAY


class TokenRejected(BrokerError):
    """RingCX refused the RingCentral access token a caller posted."""

    status = HTTPStatus.UNAUTHORIZED


class NoRingCXAccess(BrokerError):
    """RingCX answered 403/404 to the exchange: the RingCentral user is valid
    but has no RingCX (contact-center) access. Not a bad token."""

    status = HTTPStatus.FORBIDDEN


class RefreshTokenRejected(BrokerError):
    """RingCX refused the refresh token: it is spent, revoked or expired."""

    status = HTTPStatus.BAD_GATEWAY


class RateLimited(BrokerError):
    """An auth endpoint said 429 (or 503 with ``Retry-After``), or a penalty
    we know of is still running. The caller must wait ``retry_after`` seconds."""

    status = HTTPStatus.TOO_MANY_REQUESTS

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def to_body(self) -> dict[str, object]:
        return {"message": self.message, "retryAfter": self.retry_after}


class UpstreamUnavailable(BrokerError):
    """Connection failure, a 5xx, or an unusable reply from upstream."""

    status = HTTPStatus.BAD_GATEWAY


class UpstreamTimeout(UpstreamUnavailable):
    status = HTTPStatus.GATEWAY_TIMEOUT


class SecretStoreUnavailable(BrokerError):
    """Secrets Manager is throttling, failing or unreachable."""

    status = HTTPStatus.SERVICE_UNAVAILABLE


class RingWriteConflict(BrokerError):
    """Another writer already stored this generation (or a newer one)."""

    status = HTTPStatus.CONFLICT


class TokenPersistFailed(BrokerError):
    """RingCX issued a new refresh token that could not be stored."""

    status = HTTPStatus.SERVICE_UNAVAILABLE


class NoUsableToken(BrokerError):
    status = HTTPStatus.SERVICE_UNAVAILABLE


class ReloginBackoff(BrokerError):
    """A re-login failed moments ago; the next attempt waits, to stay far
    below the auth endpoints' 5-per-minute limits."""

    status = HTTPStatus.SERVICE_UNAVAILABLE


class InternalError(BrokerError):
    """A bug. Callers get a status and a pointer to the logs, never details."""

    status = HTTPStatus.INTERNAL_SERVER_ERROR

    def __init__(self, message: str = "internal error; see the broker's logs") -> None:
        super().__init__(message)
