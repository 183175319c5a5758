"""Everything the client raises, by what the caller can do about it.

Why typed: a caller decides by class - re-sign or fix IAM (``NotAuthorized``),
wait (``RateLimited`` / ``Unavailable`` carry ``retry_after``), fix its own
setup (``CredentialsMissing``, ``StackOutputMissing``, ...) - never by parsing
message text. Every message is safe to print: it is the broker's (or API
Gateway's) own ``message`` or a sentence of ours, never a credential.
"""

from __future__ import annotations


class BrokerClientError(Exception):
    """Base of everything this package raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# -- the caller's own setup --------------------------------------------------


class CredentialsMissing(BrokerClientError):
    """The AWS credential chain found no credentials to sign with."""


class CredentialsExpired(BrokerClientError):
    """The credentials could not be refreshed, or are still expired after refreshing."""


class RegionMissing(BrokerClientError):
    """No region for SigV4: not in the URL, not given, not in the AWS profile."""


class StackLookupFailed(BrokerClientError):
    """The broker's URL could not be read from its CloudFormation stack."""


class StackNotFound(StackLookupFailed):
    """No stack of that name in that account and region."""


class StackOutputMissing(StackLookupFailed):
    """The stack exists but has no ``ApiUrl`` output (not the broker's stack, or half-made)."""


class Unreachable(BrokerClientError):
    """No HTTP answer at all: DNS, connection or timeout."""


# -- an HTTP answer that is not success ----------------------------------------


class BrokerError(BrokerClientError):
    """An error answer from the broker or from API Gateway in front of it.

    ``message`` is the body's ``message`` (API Gateway's authorizer says
    ``Message``); ``error_type`` is API Gateway's ``x-amzn-ErrorType`` when it
    made the answer itself (for example ``MissingAuthenticationTokenException``);
    ``attempts`` counts the requests made, retries included.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str | None = None,
        request_id: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.request_id = request_id
        self.attempts = attempts

    def __str__(self) -> str:
        kind = f" {self.error_type}" if self.error_type else ""
        return f"HTTP {self.status}{kind}: {self.message}"


class NotAuthorized(BrokerError):
    """403: unsigned, badly signed, or the IAM identity may not call this route."""


class RetryableError(BrokerError):
    """An answer that says "later": ``retry_after`` seconds if the server said so."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        retry_after: float | None = None,
        error_type: str | None = None,
        request_id: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(
            status, message, error_type=error_type, request_id=request_id, attempts=attempts
        )
        self.retry_after = retry_after


class RateLimited(RetryableError):
    """429: API Gateway throttled the call, or RingCX rate-limited the broker."""


class Unavailable(RetryableError):
    """503: the broker has no usable token, or Secrets Manager is failing."""


class NotJson(BrokerError):
    """The answer's body is not JSON (a proxy's HTML page, a truncated body)."""


__all__ = [
    "BrokerClientError",
    "BrokerError",
    "CredentialsExpired",
    "CredentialsMissing",
    "NotAuthorized",
    "NotJson",
    "RateLimited",
    "RegionMissing",
    "RetryableError",
    "StackLookupFailed",
    "StackNotFound",
    "StackOutputMissing",
    "Unavailable",
    "Unreachable",
]
