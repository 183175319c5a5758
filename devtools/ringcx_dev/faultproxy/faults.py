"""AWS errors as AWS puts them on the wire, so botocore parses them as it would on AWS.

A JSON-protocol service (Secrets Manager) answers an error with its HTTP
status, ``Content-Type: application/x-amz-json-1.1``, the header
``x-amzn-ErrorType: <code>`` and the body ``{"__type": "<code>", "message": ...}``.
botocore reads the code from there and raises ``ClientError`` with it, and
its retry policy decides on that code and status; a fake that raised the
exception in-process would skip both.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

AWS_JSON: Final = "application/x-amz-json-1.1"


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete response; the HTTP layer adds Content-Length."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


def json_reply(status: int, payload: object, content_type: str = "application/json") -> Reply:
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    return Reply(status, (("Content-Type", content_type),), body)


# (code, status, message) of the errors the broker must survive.
_THROTTLING: Final = ("ThrottlingException", 400, "Rate exceeded")
_INTERNAL: Final = ("InternalServiceError", 500, "An error occurred on the server side.")
_UNAVAILABLE: Final = ("ServiceUnavailable", 503, "The service is temporarily unavailable.")
_LIMIT: Final = (
    "LimitExceededException",
    400,
    "You have exceeded the maximum number of versions allowed for this secret.",
)
_DENIED: Final = (
    "AccessDeniedException",
    400,
    "User is not authorized to perform this operation on this resource.",
)
_NOT_FOUND: Final = (
    "ResourceNotFoundException",
    400,
    "Secrets Manager can't find the specified secret.",
)


@dataclass(frozen=True, slots=True)
class AwsFault:
    """What the next ``count`` matching calls get instead of the real answer.

    After ``delay`` seconds the proxy either closes the connection without
    answering (``drop``) or sends the AWS error ``code`` with ``status``.
    """

    code: str = "ThrottlingException"
    status: int = 400
    message: str = "Rate exceeded"
    count: int = 1
    drop: bool = False
    delay: float = 0.0

    def __post_init__(self) -> None:
        if not self.code:
            raise ValueError("code must not be empty")
        if not 400 <= self.status <= 599:
            raise ValueError(f"status must be an error status (400-599), got {self.status}")
        if self.count < 1:
            raise ValueError(f"count must be >= 1, got {self.count}")
        if not self.delay >= 0:
            raise ValueError(f"delay must be >= 0, got {self.delay}")

    # -- the faults the broker must survive ------------------------------------------

    @classmethod
    def throttling(cls, count: int = 1, delay: float = 0.0) -> AwsFault:
        """400 ThrottlingException: botocore retries it by default."""
        return cls(*_THROTTLING, count=count, delay=delay)

    @classmethod
    def internal_error(cls, count: int = 1, delay: float = 0.0) -> AwsFault:
        """500 InternalServiceError, Secrets Manager's own server-side error."""
        return cls(*_INTERNAL, count=count, delay=delay)

    @classmethod
    def service_unavailable(cls, count: int = 1, delay: float = 0.0) -> AwsFault:
        """503 ServiceUnavailable."""
        return cls(*_UNAVAILABLE, count=count, delay=delay)

    @classmethod
    def limit_exceeded(cls, count: int = 1, delay: float = 0.0) -> AwsFault:
        """400 LimitExceededException: a write over the secret's versions quota
        (botocore's standard retry mode retries it as a throttle; legacy does not)."""
        return cls(*_LIMIT, count=count, delay=delay)

    @classmethod
    def access_denied(cls, count: int = 1, delay: float = 0.0) -> AwsFault:
        """400 AccessDeniedException: the caller's policy does not allow the call."""
        return cls(*_DENIED, count=count, delay=delay)

    @classmethod
    def not_found(cls, count: int = 1, delay: float = 0.0) -> AwsFault:
        """400 ResourceNotFoundException: the secret does not exist (or was deleted)."""
        return cls(*_NOT_FOUND, count=count, delay=delay)

    @classmethod
    def dropped(cls, count: int = 1, delay: float = 0.0) -> AwsFault:
        """The connection is closed without an answer (a network failure)."""
        return cls("ConnectionDropped", 400, "connection dropped", count, drop=True, delay=delay)

    # -- wire format -----------------------------------------------------------------

    def reply(self) -> Reply:
        """The error exactly as an AWS JSON-protocol service sends it."""
        body = json.dumps({"__type": self.code, "message": self.message}).encode("utf-8")
        headers = (
            ("Content-Type", AWS_JSON),
            ("x-amzn-ErrorType", self.code),
            ("x-amzn-RequestId", str(uuid.uuid4())),
        )
        return Reply(self.status, headers, body)

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> AwsFault:
        """Build from the control API's JSON; ValueError names what is wrong."""
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        default = cls()
        return cls(
            code=_typed(data, "code", str, default.code),
            status=_typed(data, "status", int, default.status),
            message=_typed(data, "message", str, default.message),
            count=_typed(data, "count", int, default.count),
            drop=_typed(data, "drop", bool, default.drop),
            delay=float(_typed(data, "delay", float, default.delay)),
        )


def _typed[T](data: Mapping[str, object], name: str, kind: type[T], default: T) -> T:
    """``data[name]`` if it has the type ``kind`` (an int passes for a float; a
    bool never passes for a number), else ValueError; ``default`` when absent."""
    value = data.get(name, default)
    accepted: tuple[type, ...] = (int, float) if kind is float else (kind,)
    if isinstance(value, accepted) and (kind is bool or not isinstance(value, bool)):
        return value  # type: ignore[return-value]
    raise ValueError(f"{name}: expected {kind.__name__}, got {value!r}")


def batch_with_errors(body: bytes, failed: Sequence[tuple[str, AwsFault]]) -> bytes:
    """A ``BatchGetSecretValue`` reply with the ``failed`` secrets moved into ``Errors``.

    AWS reports a secret it cannot return in a batch (missing, denied) as an
    entry of ``Errors`` in a 200 reply, while the other secrets are returned.
    A secret is matched by the id the caller sent, against its ARN or name.
    """
    reply = json.loads(body)
    values = reply.get("SecretValues", [])
    errors = list(reply.get("Errors", []))
    for secret_id, fault in failed:
        values = [v for v in values if secret_id not in (v.get("ARN"), v.get("Name"))]
        errors.append({"SecretId": secret_id, "ErrorCode": fault.code, "Message": fault.message})
    reply["SecretValues"] = values
    reply["Errors"] = errors
    return json.dumps(reply).encode("utf-8")
