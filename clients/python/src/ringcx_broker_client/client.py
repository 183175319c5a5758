"""``BrokerClient``: signed calls to the broker's REST API, parsed JSON back.

Why a client at all: the broker exists so that callers never handle RingCX
tokens; if each caller then wrote its own SigV4 signing, error parsing and
retry loop, the re-implementation would just move. One small package does it
once: the caller's normal AWS credential chain signs (botocore), every answer
is parsed JSON or a typed error carrying the broker's ``message``, and 429/503
are retried within a bound the caller sets.
"""

from __future__ import annotations

import json as jsonlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, urlencode

import urllib3

from ringcx_broker_client.errors import (
    BrokerError,
    CredentialsExpired,
    CredentialsMissing,
    NotAuthorized,
    NotJson,
    RateLimited,
    RegionMissing,
    RetryableError,
    Unavailable,
    Unreachable,
)
from ringcx_broker_client.retry import RetryPolicy, parse_retry_after
from ringcx_broker_client.signing import region_from_url, signed_headers
from ringcx_broker_client.stack import CloudFormationClient, api_url_from_stack

if TYPE_CHECKING:
    import boto3
    from botocore.credentials import Credentials, ReadOnlyCredentials

__version__: Final = "0.1.0"
USER_AGENT: Final = f"ringcx-broker-client/{__version__}"
DEFAULT_TIMEOUT: Final = 35.0  # API Gateway gives up after 29 s; leave it room to say so.
_EXCERPT: Final = 200
# RFC 3986 pchar plus "/" and "%": a caller's already-encoded path stays as it is.
_PATH_SAFE: Final = "/%:@!$&'()*+,;=-._~"

Params = Mapping[str, str] | Sequence[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Reply:
    """One HTTP answer, header names lower-cased."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class BrokerClient:
    """Calls one deployed broker (``api_url`` is the stack's ``ApiUrl``).

    Credentials come from ``credentials`` if given, else from ``session``'s
    chain (a default ``boto3.Session()``: environment, profile, SSO, instance
    role ...), read at every request so that refreshed credentials are used.
    The region is ``region``, else the one in ``api_url``, else the session's.
    """

    def __init__(
        self,
        api_url: str,
        *,
        region: str | None = None,
        session: boto3.Session | None = None,
        credentials: Credentials | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        http: urllib3.PoolManager | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not api_url.startswith(("https://", "http://")):
            raise ValueError(f"api_url must be an http(s) URL, got {api_url!r}")
        self.api_url = api_url.rstrip("/")
        self._session = session
        self._credentials = credentials
        found = region or region_from_url(api_url) or self._session_region()
        if not found:
            raise RegionMissing(
                f"no AWS region for signing: {self.api_url} does not name one; "
                "pass region= (--region) or set AWS_REGION"
            )
        self.region: str = found
        self.retry = retry or RetryPolicy()
        self._timeout = timeout
        self._http = http or urllib3.PoolManager(retries=False)
        self._sleep = sleep
        self._clock = clock

    @classmethod
    def from_stack(
        cls,
        stack_name: str,
        *,
        region: str | None = None,
        session: boto3.Session | None = None,
        cloudformation: CloudFormationClient | None = None,
        credentials: Credentials | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        http: urllib3.PoolManager | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> BrokerClient:
        """Read ``ApiUrl`` from the stack's outputs (``describe_stacks``), then connect."""
        if cloudformation is None:
            cloudformation = _cloudformation(session, region)
        return cls(
            api_url_from_stack(cloudformation, stack_name),
            region=region,
            session=session,
            credentials=credentials,
            retry=retry,
            timeout=timeout,
            http=http,
            sleep=sleep,
            clock=clock,
        )

    # -- the calls -------------------------------------------------------------

    def get(self, path: str, params: Params | None = None) -> Any:
        """``GET {api_url}{path}?{params}``; the parsed JSON answer."""
        return self.request("GET", path, params=params)

    def post(self, path: str, json: Any = None) -> Any:
        """``POST`` with ``json`` as the body (none when None); the parsed JSON answer."""
        return self.request("POST", path, json=json)

    def health(self) -> Any:
        """``GET /health``: the token's status (never the token)."""
        return self.get("/health")

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
    ) -> Any:
        """Any method; 429/503 are retried per ``self.retry``, then raised typed."""
        url = self._url(path, params)
        body = b"" if json is None else jsonlib.dumps(json).encode("utf-8")
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if body:
            headers["Content-Type"] = "application/json"
        started = self._clock()
        attempt = 1
        while True:
            reply, secrets = self._send(method.upper(), url, body, headers)
            try:
                return _result(reply, attempt, secrets)
            except RetryableError as error:
                wait = self.retry.wait_before(attempt, error.retry_after, self._clock() - started)
                if wait is None:
                    raise
            self._sleep(wait)
            attempt += 1

    # -- plumbing --------------------------------------------------------------

    def _url(self, path: str, params: Params | None) -> str:
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        url = self.api_url + quote(path, safe=_PATH_SAFE)
        if params:
            pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
            # quote, not quote_plus: SigV4's canonical query encodes a space as %20.
            url += "?" + urlencode(pairs, quote_via=quote)
        return url

    def _send(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[Reply, tuple[str, ...]]:
        credentials = self._frozen_credentials()
        signed = signed_headers(method, url, body, headers, credentials, self.region)
        try:
            response = self._http.request(
                method,
                url,
                body=body or None,
                headers=signed,
                timeout=urllib3.Timeout(total=self._timeout),
                retries=False,
                redirect=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise Unreachable(f"cannot reach {self.api_url}: {type(exc).__name__}") from exc
        reply = Reply(
            status=response.status,
            headers={k.lower(): v for k, v in response.headers.items()},
            body=response.data,
        )
        secrets = tuple(s for s in (credentials.secret_key, credentials.token) if s)
        return reply, secrets

    def _frozen_credentials(self) -> ReadOnlyCredentials:
        source = self._credentials
        if source is None:
            source = (self._session or _default_session()).get_credentials()
        if source is None:
            raise CredentialsMissing(
                "no AWS credentials found to sign with: set AWS_PROFILE, or "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where a role is attached"
            )
        try:
            frozen = source.get_frozen_credentials()
        except Exception as exc:  # botocore raises many types here; none may escape untyped
            raise CredentialsExpired(
                f"the AWS credentials could not be refreshed ({type(exc).__name__}); "
                "log in again (for SSO: aws sso login)"
            ) from exc
        if not frozen.access_key or not frozen.secret_key:
            raise CredentialsMissing("the AWS credentials have no access key or secret key")
        return frozen

    def _session_region(self) -> str | None:
        session = self._session or _default_session()
        return session.region_name


def _default_session() -> boto3.Session:
    import boto3

    return boto3.Session()


def _cloudformation(session: boto3.Session | None, region: str | None) -> CloudFormationClient:
    from botocore.exceptions import NoRegionError

    try:
        return (session or _default_session()).client("cloudformation", region_name=region)
    except NoRegionError as exc:
        raise RegionMissing(
            "no AWS region to look up the stack in: pass region= (--region) or set AWS_REGION"
        ) from exc


# -- answers -> results or typed errors ----------------------------------------


def _result(reply: Reply, attempts: int, secrets: Sequence[str]) -> Any:
    """The parsed JSON of a 2xx answer; any other answer raises its typed error."""
    content_type = reply.headers.get("content-type", "-")
    error_type = _error_type(reply.headers.get("x-amzn-errortype"))
    request_id = reply.headers.get("x-amzn-requestid")
    try:
        data = jsonlib.loads(reply.body) if reply.body.strip() else None
    except ValueError:
        excerpt = _scrub(reply.body[:_EXCERPT].decode("utf-8", errors="replace"), secrets)
        raise NotJson(
            reply.status,
            f"the answer is not JSON (Content-Type {content_type}): {excerpt!r}",
            error_type=error_type,
            request_id=request_id,
            attempts=attempts,
        ) from None
    if 200 <= reply.status < 300:
        return data
    message = _scrub(_message(data, reply.status), secrets)
    options: dict[str, Any] = {
        "error_type": error_type,
        "request_id": request_id,
        "attempts": attempts,
    }
    if reply.status == 403:
        raise NotAuthorized(reply.status, message, **options)
    if reply.status in (429, 503):
        retry_after = parse_retry_after(reply.headers.get("retry-after"))
        if retry_after is None and isinstance(data, dict):
            retry_after = _number(data.get("retryAfter"))
        kind = RateLimited if reply.status == 429 else Unavailable
        raise kind(reply.status, message, retry_after=retry_after, **options)
    raise BrokerError(reply.status, message, **options)


def _message(data: object, status: int) -> str:
    if isinstance(data, dict):
        # The broker and API Gateway say "message"; IAM's AccessDenied says "Message".
        for key in ("message", "Message"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return value
    return f"HTTP {status} without a message"


def _error_type(header: str | None) -> str | None:
    # "AccessDeniedException:http://internal.amazon.com/coral/..." -> "AccessDeniedException"
    return header.split(":", 1)[0] if header else None


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def _scrub(text: str, secrets: Sequence[str]) -> str:
    """A signature-mismatch message may echo signed headers; never echo a credential."""
    for secret in secrets:
        text = text.replace(secret, "<redacted>")
    return text


__all__ = ["BrokerClient", "Params", "Reply"]
