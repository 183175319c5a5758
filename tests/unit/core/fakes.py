"""In-memory fakes for the auth layer's edges: clock, sleep, metrics, Secrets
Manager, a urllib3 pool, RingCX and the JWT login.

They mimic the real semantics the code relies on (Secrets Manager versions and
``ClientRequestToken`` idempotency, urllib3 responses and exceptions, RingCX's
single-use refresh tokens) so tests exercise behaviour, not call sequences.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs

import urllib3
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError

from ringcx_broker.errors import RefreshTokenRejected, TokenRejected
from ringcx_broker.tokens import StoredToken, TokenGrant

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from ringcx_broker.ringcx import RingCXClient

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z: a fixed "now" for every fake clock
LIFETIME = 300.0  # RingCX's real access-token lifetime
REFRESH_TOKEN = "rt-1"  # the refresh token of a reply built by login_reply()/make_grant()

# -- time and metrics -------------------------------------------------------------


class FakeClock:
    """A wall clock that only moves when a test (or a recording sleep) moves it."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingSleep:
    """Records every delay; optionally advances a fake clock by it."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.delays: list[float] = []
        self._clock = clock

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self._clock is not None:
            self._clock.advance(seconds)


class RecordingMetrics:
    """Satisfies ``MetricsSink`` (what Powertools ``Metrics`` offers)."""

    def __init__(self) -> None:
        self.points: list[tuple[str, Any, float]] = []

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        self.points.append((name, unit, value))

    def total(self, name: str) -> float:
        return sum(value for n, _, value in self.points if n == name)

    def names(self) -> set[str]:
        return {n for n, _, _ in self.points}


# -- tokens -----------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def make_jwt(iat: float | None = T0, exp: float | None = T0 + LIFETIME, **claims: Any) -> str:
    """An unsigned-looking JWT (header.payload.signature) with the given claims."""
    payload = dict(claims)
    if iat is not None:
        payload["iat"] = iat
    if exp is not None:
        payload["exp"] = exp
    header = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    return f"{header}.{b64url(json.dumps(payload).encode())}.{b64url(b'signature')}"


AGENT = {
    "agentId": "1001",
    "accountId": "15300002",
    "rcUserId": "63240941004",
    "firstName": "Ada",
    "lastName": "Lovelace",
    "email": "ada@example.com",
    "username": "ada@example.com",
}


def login_reply(
    access_token: str, refresh_token: str | None = REFRESH_TOKEN, **extra: Any
) -> dict[str, Any]:
    """A RingCX login/refresh reply shaped like the documented one."""
    reply: dict[str, Any] = {
        "accessToken": access_token,
        "tokenType": "Bearer",
        "agentDetails": [dict(AGENT)],
        "adminId": "42",
        "adminUrl": "https://engage.ringcentral.com/admin",
        "agentUrl": "https://engage.ringcentral.com/agent",
        "ssoLogin": True,
        **extra,
    }
    if refresh_token is not None:
        reply["refreshToken"] = refresh_token
    return reply


def make_grant(
    now: float = T0,
    lifetime: float = LIFETIME,
    refresh_token: str | None = REFRESH_TOKEN,
    serial: int = 1,
) -> TokenGrant:
    access = make_jwt(now, now + lifetime, jti=f"access-{serial}")
    return TokenGrant.from_reply(login_reply(access, refresh_token), now)


def make_token(
    generation: int,
    now: float = T0,
    lifetime: float = LIFETIME,
    refresh_token: str | None = None,
    source: str = "refresh",
) -> StoredToken:
    """Generation ``generation``, minted at ``now``, refresh token ``rt-g<generation>``."""
    grant = make_grant(
        now,
        lifetime,
        refresh_token if refresh_token is not None else f"rt-g{generation}",
        serial=generation,
    )
    return StoredToken.from_grant(grant, generation, now, source)


# -- Secrets Manager --------------------------------------------------------------


def client_error(code: str, operation: str, message: str = "", status: int = 400) -> ClientError:
    """A botocore ClientError exactly as the client raises it."""
    response: Any = {
        "Error": {"Code": code, "Message": message or code},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


_API_NAMES = {
    "create_secret": "CreateSecret",
    "get_secret_value": "GetSecretValue",
    "put_secret_value": "PutSecretValue",
    "batch_get_secret_value": "BatchGetSecretValue",
    "describe_secret": "DescribeSecret",
    "list_secret_version_ids": "ListSecretVersionIds",
    "tag_resource": "TagResource",
}


@dataclass
class _Version:
    version_id: str
    secret_string: str | None
    stages: set[str]
    created: datetime


@dataclass
class _Secret:
    name: str
    arn: str
    versions: dict[str, _Version] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def staged(self, stage: str) -> _Version | None:
        return next((v for v in self.versions.values() if stage in v.stages), None)


@dataclass
class _Fault:
    operation: str
    code: str
    times: int
    after_apply: bool
    secret_id: str | None


class FakeSecretsManager:
    """An in-memory Secrets Manager with the semantics the token ring relies on.

    - Each secret keeps every version; ``AWSCURRENT``/``AWSPREVIOUS`` move on a put.
    - ``ClientRequestToken`` is the version id: a repeat with the same value is
      a no-op, with a different value ``ResourceExistsException``.
    - A secret without a value, or an unknown id, is ``ResourceNotFoundException``.
    - ``fail()`` injects N failures of one operation, before or *after* the
      write lands (a lost response). ``calls`` counts every client call.
    """

    def __init__(
        self,
        region: str = "us-east-1",
        account: str = "123456789012",
        max_versions: int | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._clock = clock  # when versions are created; real time by default
        self._region = region
        self._account = account
        self._max_versions = max_versions
        self._secrets: dict[str, _Secret] = {}
        self._faults: list[_Fault] = []
        self._hooks: dict[str, deque[Callable[[], None]]] = {}
        self.calls: list[tuple[str, str]] = []

    @property
    def client(self) -> SecretsManagerClient:
        """This fake, typed as the boto3 client it stands in for."""
        return cast("SecretsManagerClient", self)

    # -- test controls --

    def fail(
        self,
        operation: str,
        code: str = "ThrottlingException",
        times: int = 1,
        after_apply: bool = False,
        secret_id: str | None = None,
    ) -> None:
        """The next ``times`` calls of ``operation`` raise ``code``
        (``EndpointConnectionError`` raises botocore's connection error)."""
        assert operation in _API_NAMES, operation
        self._faults.append(_Fault(operation, code, times, after_apply, secret_id))

    def before_next(self, operation: str, action: Callable[[], None]) -> None:
        """Run ``action`` (say, another writer's put) just before the next call."""
        self._hooks.setdefault(operation, deque()).append(action)

    def count(self, operation: str, secret_id: str | None = None) -> int:
        """Calls of ``operation`` (to ``secret_id`` by name or ARN, if given)."""
        if secret_id is None:
            return sum(1 for op, _ in self.calls if op == operation)
        secret = self._resolve(secret_id)
        return sum(1 for op, s in self.calls if op == operation and s in (secret.name, secret.arn))

    def reads(self) -> int:
        """Read round trips: GetSecretValue plus BatchGetSecretValue calls."""
        return self.count("get_secret_value") + self.count("batch_get_secret_value")

    def reset_calls(self) -> None:
        self.calls.clear()

    def external_put(
        self, secret_id: str, secret_string: str, client_request_token: str | None = None
    ) -> None:
        """Another process writing: same semantics, not counted, no faults."""
        self._put(self._resolve(secret_id), secret_string, client_request_token)

    def current_value(self, secret_id: str) -> str | None:
        version = self._resolve(secret_id).staged("AWSCURRENT")
        return None if version is None else version.secret_string

    def current_version(self, secret_id: str) -> str:
        version = self._resolve(secret_id).staged("AWSCURRENT")
        return "" if version is None else version.version_id

    def version_count(self, secret_id: str) -> int:
        return len(self._resolve(secret_id).versions)

    # -- the boto3 client surface --

    def create_secret(
        self, *, Name: str, SecretString: str | None = None, ClientRequestToken: str | None = None
    ) -> dict[str, Any]:
        self._enter("create_secret", Name, lookup=False)
        if Name in self._secrets:
            raise client_error(
                "ResourceExistsException",
                "CreateSecret",
                f"The operation failed because the secret {Name} already exists.",
            )
        suffix = hashlib.sha256(Name.encode()).hexdigest()[:6]
        arn = f"arn:aws:secretsmanager:{self._region}:{self._account}:secret:{Name}-{suffix}"
        secret = _Secret(Name, arn)
        self._secrets[Name] = secret
        reply: dict[str, Any] = {"ARN": arn, "Name": Name}
        if SecretString is not None:
            reply["VersionId"] = self._put(secret, SecretString, ClientRequestToken)["VersionId"]
        return reply

    def get_secret_value(
        self, *, SecretId: str, VersionId: str | None = None, VersionStage: str | None = None
    ) -> dict[str, Any]:
        secret = self._enter("get_secret_value", SecretId)
        self._raise_fault("get_secret_value", secret, applied=False)
        if VersionId is not None:
            version = secret.versions.get(VersionId)
        else:
            version = secret.staged(VersionStage or "AWSCURRENT")
        if version is None:
            raise client_error(
                "ResourceNotFoundException",
                "GetSecretValue",
                "Secrets Manager can't find the specified secret value for staging label: "
                f"{VersionStage or 'AWSCURRENT'}",
            )
        return _value_reply(secret, version)

    def batch_get_secret_value(self, *, SecretIdList: list[str]) -> dict[str, Any]:
        """Every listed secret's current value; per-secret failures go to
        ``Errors`` (a fault with a ``secret_id``), a fault without one fails
        the whole call."""
        self._enter("batch_get_secret_value", ",".join(SecretIdList), lookup=False)
        self._raise_batch_fault()
        values: list[dict[str, Any]] = []
        errors: list[dict[str, str]] = []
        for secret_id in SecretIdList:
            code = self._take_batch_fault(secret_id)
            try:
                if code is not None:
                    raise client_error(code, "BatchGetSecretValue")
                secret = self._resolve(secret_id, "BatchGetSecretValue")
                version = secret.staged("AWSCURRENT")
                if version is None:
                    raise client_error("ResourceNotFoundException", "BatchGetSecretValue")
            except ClientError as exc:
                error = exc.response["Error"]
                errors.append(
                    {
                        "SecretId": secret_id,
                        "ErrorCode": error["Code"],
                        "Message": error["Message"],
                    }
                )
                continue
            values.append(_value_reply(secret, version))
        return {"SecretValues": values, "Errors": errors}

    def list_secret_version_ids(
        self,
        *,
        SecretId: str,
        IncludeDeprecated: bool = False,
        MaxResults: int = 100,
        NextToken: str | None = None,
    ) -> dict[str, Any]:
        """Versions newest first, paged like the real call (``NextToken`` is an offset)."""
        secret = self._enter("list_secret_version_ids", SecretId)
        self._raise_fault("list_secret_version_ids", secret, applied=False)
        versions = sorted(secret.versions.values(), key=lambda v: v.created, reverse=True)
        if not IncludeDeprecated:
            versions = [v for v in versions if v.stages]
        start = int(NextToken or 0)
        page = versions[start : start + MaxResults]
        reply: dict[str, Any] = {
            "ARN": secret.arn,
            "Name": secret.name,
            "Versions": [
                {
                    "VersionId": v.version_id,
                    "VersionStages": sorted(v.stages),
                    "CreatedDate": v.created,
                }
                for v in page
            ],
        }
        if start + MaxResults < len(versions):
            reply["NextToken"] = str(start + MaxResults)
        return reply

    def describe_secret(self, *, SecretId: str) -> dict[str, Any]:
        secret = self._enter("describe_secret", SecretId)
        self._raise_fault("describe_secret", secret, applied=False)
        return {
            "ARN": secret.arn,
            "Name": secret.name,
            "Tags": [{"Key": k, "Value": v} for k, v in secret.tags.items()],
        }

    def tag_resource(self, *, SecretId: str, Tags: list[dict[str, str]]) -> dict[str, Any]:
        secret = self._enter("tag_resource", SecretId)
        self._raise_fault("tag_resource", secret, applied=False)
        secret.tags.update({tag["Key"]: tag["Value"] for tag in Tags})
        return {}

    def put_secret_value(
        self, *, SecretId: str, SecretString: str, ClientRequestToken: str | None = None
    ) -> dict[str, Any]:
        secret = self._enter("put_secret_value", SecretId)
        self._raise_fault("put_secret_value", secret, applied=False)
        reply = self._put(secret, SecretString, ClientRequestToken)
        self._raise_fault("put_secret_value", secret, applied=True)
        return reply

    # -- internals --

    def _enter(self, operation: str, secret_id: str, lookup: bool = True) -> _Secret:
        hooks = self._hooks.get(operation)
        if hooks:
            hooks.popleft()()
        if not lookup:
            self.calls.append((operation, secret_id))
            return _Secret(secret_id, secret_id)
        self.calls.append((operation, secret_id))
        return self._resolve(secret_id, _API_NAMES[operation])

    def _resolve(self, secret_id: str, operation: str = "GetSecretValue") -> _Secret:
        for secret in self._secrets.values():
            if secret_id in (secret.name, secret.arn):
                return secret
        raise client_error(
            "ResourceNotFoundException",
            operation,
            "Secrets Manager can't find the specified secret.",
        )

    def _raise_fault(self, operation: str, secret: _Secret, applied: bool) -> None:
        for fault in self._faults:
            if (
                fault.operation == operation
                and fault.times > 0
                and fault.after_apply == applied
                and fault.secret_id in (None, secret.name, secret.arn)
            ):
                fault.times -= 1
                if fault.code == "EndpointConnectionError":
                    raise EndpointConnectionError(
                        endpoint_url=f"https://secretsmanager.{self._region}.amazonaws.com/"
                    )
                raise client_error(fault.code, _API_NAMES[operation])

    def _raise_batch_fault(self) -> None:
        for fault in self._faults:
            whole_call = fault.secret_id is None
            if fault.operation == "batch_get_secret_value" and fault.times > 0 and whole_call:
                fault.times -= 1
                if fault.code == "EndpointConnectionError":
                    raise EndpointConnectionError(
                        endpoint_url=f"https://secretsmanager.{self._region}.amazonaws.com/"
                    )
                raise client_error(fault.code, "BatchGetSecretValue")

    def _take_batch_fault(self, secret_id: str) -> str | None:
        for fault in self._faults:
            if (
                fault.operation == "batch_get_secret_value"
                and fault.times > 0
                and fault.secret_id is not None
                and self._names(fault.secret_id, secret_id)
            ):
                fault.times -= 1
                return fault.code
        return None

    def _names(self, a: str, b: str) -> bool:
        if a == b:
            return True
        try:
            return self._resolve(a) is self._resolve(b)
        except ClientError:
            return False

    def _put(self, secret: _Secret, value: str, token: str | None) -> dict[str, Any]:
        token = token or str(uuid.uuid4())
        if not 32 <= len(token) <= 64:
            raise ParamValidationError(
                report=f"Invalid length for parameter ClientRequestToken, value: {len(token)}, "
                "valid min length: 32"
            )
        existing = secret.versions.get(token)
        if existing is not None:
            if existing.secret_string != value:
                raise client_error(
                    "ResourceExistsException",
                    "PutSecretValue",
                    "You can't modify an existing version, you can only create a new version.",
                )
            return {
                "ARN": secret.arn,
                "Name": secret.name,
                "VersionId": token,
                "VersionStages": sorted(existing.stages),
            }
        if self._max_versions is not None and len(secret.versions) >= self._max_versions:
            raise client_error(
                "LimitExceededException", "PutSecretValue", "too many versions of this secret"
            )
        previous, current = secret.staged("AWSPREVIOUS"), secret.staged("AWSCURRENT")
        if previous is not None:
            previous.stages.discard("AWSPREVIOUS")
        if current is not None:
            current.stages.discard("AWSCURRENT")
            current.stages.add("AWSPREVIOUS")
        created = (
            datetime.fromtimestamp(self._clock(), tz=UTC) if self._clock else datetime.now(tz=UTC)
        )
        secret.versions[token] = _Version(token, value, {"AWSCURRENT"}, created)
        return {
            "ARN": secret.arn,
            "Name": secret.name,
            "VersionId": token,
            "VersionStages": ["AWSCURRENT"],
        }


def _value_reply(secret: _Secret, version: _Version) -> dict[str, Any]:
    return {
        "ARN": secret.arn,
        "Name": secret.name,
        "VersionId": version.version_id,
        "SecretString": version.secret_string,
        "VersionStages": sorted(version.stages),
        "CreatedDate": version.created,
    }


# -- urllib3 ----------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    url: str
    body: str
    headers: dict[str, str]
    timeout: Any
    retries: Any

    @property
    def fields(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body, keep_blank_values=True).items()}


def http_response(
    status: int,
    body: bytes | str | Mapping[str, Any] = b"",
    headers: Mapping[str, str] | None = None,
) -> urllib3.HTTPResponse:
    """A real ``urllib3.HTTPResponse`` (case-insensitive headers, ``.data``)."""
    if isinstance(body, Mapping):
        body = json.dumps(body)
    raw = body.encode() if isinstance(body, str) else body
    return urllib3.HTTPResponse(
        body=io.BytesIO(raw), headers=dict(headers or {}), status=status, preload_content=False
    )


class FakePool:
    """Stands in for ``urllib3.PoolManager``: replays queued responses or
    raises queued exceptions, and records every request it was asked to send."""

    def __init__(self, *outcomes: urllib3.HTTPResponse | Exception) -> None:
        self._outcomes: deque[urllib3.HTTPResponse | Exception] = deque(outcomes)
        self.requests: list[RecordedRequest] = []

    @property
    def client(self) -> urllib3.PoolManager:
        """This fake, typed as the pool it stands in for."""
        return cast("urllib3.PoolManager", self)

    def queue(self, *outcomes: urllib3.HTTPResponse | Exception) -> None:
        self._outcomes.extend(outcomes)

    def request(
        self,
        method: str,
        url: str,
        body: str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: Any = None,
        retries: Any = None,
        **_: Any,
    ) -> urllib3.HTTPResponse:
        text = body.decode() if isinstance(body, bytes) else body or ""
        self.requests.append(
            RecordedRequest(method, url, text, dict(headers or {}), timeout, retries)
        )
        assert self._outcomes, f"unexpected request {method} {url}"
        outcome = self._outcomes.popleft()
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


# -- RingCX and login -------------------------------------------------------------

Step = Exception | Callable[[], None]


class FakeRingCX:
    """The ``RingCXClient`` surface (``refresh``/``exchange``) with RingCX's
    rules: each refresh token works once and its reply carries a new one.

    ``then(...)`` queues steps played at the start of the next calls: an
    exception is raised (before the refresh token is spent), a callable runs
    as a side effect (say, another writer storing a generation).
    """

    def __init__(self, clock: FakeClock, lifetime: float = LIFETIME) -> None:
        self._clock = clock
        self.lifetime = lifetime
        self.valid_refresh_tokens: set[str] = set()
        self.rejected_rc_tokens: set[str] = set()
        self.refresh_calls: list[str] = []
        self.exchange_calls: list[str] = []
        self.issued: list[TokenGrant] = []
        self.reply_extra: dict[str, Any] = {}  # e.g. another mainAccountId / adminId
        self._steps: deque[Step] = deque()
        self._serial = 0

    @property
    def client(self) -> RingCXClient:
        """This fake, typed as the client it stands in for."""
        return cast("RingCXClient", self)

    def then(self, *steps: Step) -> None:
        self._steps.extend(steps)

    def issue(self) -> TokenGrant:
        self._serial += 1
        now = self._clock()
        access = make_jwt(now, now + self.lifetime, jti=f"rcx-access-{self._serial}")
        refresh = f"rcx-refresh-{self._serial}"
        self.valid_refresh_tokens.add(refresh)
        grant = TokenGrant.from_reply(login_reply(access, refresh, **self.reply_extra), now)
        self.issued.append(grant)
        return grant

    def refresh(self, refresh_token: str) -> TokenGrant:
        self.refresh_calls.append(refresh_token)
        self._play()
        if refresh_token not in self.valid_refresh_tokens:
            raise RefreshTokenRejected("RingCX rejected the refresh token (HTTP 400 error)")
        self.valid_refresh_tokens.discard(refresh_token)
        return self.issue()

    def exchange(self, rc_access_token: str) -> TokenGrant:
        self.exchange_calls.append(rc_access_token)
        self._play()
        if rc_access_token in self.rejected_rc_tokens:
            raise TokenRejected("RingCX rejected the RingCentral access token (HTTP 401 error)")
        return self.issue()

    def _play(self) -> None:
        if self._steps:
            step = self._steps.popleft()
            if isinstance(step, Exception):
                raise step
            step()


class FakeLogin:
    """The ``JwtLogin`` surface: a full login that mints a fresh RingCX grant."""

    def __init__(self, ringcx: FakeRingCX, error: Exception | None = None) -> None:
        self._ringcx = ringcx
        self.error = error
        self.calls = 0
        self.before: Callable[[], None] | None = None  # observe state at login time

    def login(self) -> TokenGrant:
        self.calls += 1
        if self.before is not None:
            self.before()
        if self.error is not None:
            raise self.error
        return self._ringcx.issue()
