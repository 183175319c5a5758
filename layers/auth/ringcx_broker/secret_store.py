"""Secrets Manager reads with their failures sorted into what the caller can do.

- ``SecretMissing``: the secret (or its value) is not there. The caller names it.
- ``SecretDenied``: IAM refuses it. Permanent until someone fixes the policy.
- ``SecretStoreUnavailable``: throttling, a 5xx, the network. Try again later.

``batch_read`` reads many secrets in one round trip (``BatchGetSecretValue``)
and reports each secret's outcome separately, so one bad slot never hides
the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ringcx_broker.errors import SecretStoreUnavailable

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

MISSING_CODES = frozenset({"ResourceNotFoundException"})
DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied"})
# What an endpoint says when it does not offer BatchGetSecretValue at all.
UNSUPPORTED_CODES = frozenset(
    {"UnknownOperationException", "InvalidAction", "NotImplemented", "UnrecognizedClientException"}
)
TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "Throttling",
        "InternalServiceError",
        "InternalServiceErrorException",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)


class SecretMissing(Exception):
    """The secret does not exist or has no current value."""


class SecretDenied(Exception):
    """IAM does not allow this function to read or write the secret."""


@dataclass(frozen=True, slots=True)
class SecretValue:
    text: str
    version_id: str


@dataclass(frozen=True, slots=True)
class BatchResult:
    """One ``BatchGetSecretValue``: values by the id asked for, and failures
    by the id asked for with the error code Secrets Manager gave."""

    values: Mapping[str, SecretValue] = field(default_factory=dict)
    failures: Mapping[str, str] = field(default_factory=dict)


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "") or "error"


def read_secret(client: SecretsManagerClient, secret_id: str, what: str) -> SecretValue:
    """One GetSecretValue. Raises ``SecretMissing``, ``SecretDenied`` or
    ``SecretStoreUnavailable`` (naming ``what``)."""
    try:
        reply = client.get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        code = error_code(exc)
        if code in MISSING_CODES:
            raise SecretMissing(secret_id) from exc
        if code in DENIED_CODES:
            raise SecretDenied(secret_id) from exc
        raise SecretStoreUnavailable(f"could not read {what} {secret_id} ({code})") from exc
    except BotoCoreError as exc:
        raise SecretStoreUnavailable(
            f"could not read {what} {secret_id} ({type(exc).__name__})"
        ) from exc
    return SecretValue(reply.get("SecretString") or "", reply.get("VersionId", ""))


def batch_read(client: SecretsManagerClient, secret_ids: Sequence[str]) -> BatchResult:
    """Read ``secret_ids`` in one call. Raises ``ClientError``/``BotoCoreError``
    for a failure of the whole call, so the caller can choose a fallback."""
    reply = client.batch_get_secret_value(SecretIdList=list(secret_ids))
    values: dict[str, SecretValue] = {}
    for item in reply.get("SecretValues", []):
        wanted = _asked_id(item, secret_ids)
        if wanted is not None:
            values[wanted] = SecretValue(item.get("SecretString") or "", item.get("VersionId", ""))
    failures: dict[str, str] = {}
    for error in reply.get("Errors", []):
        wanted = _asked_id(error, secret_ids, key="SecretId")
        if wanted is not None and wanted not in values:
            failures[wanted] = error.get("ErrorCode") or "error"
    for secret_id in secret_ids:
        if secret_id not in values and secret_id not in failures:
            failures[secret_id] = "ResourceNotFoundException"  # asked for, never answered
    return BatchResult(values, failures)


def _asked_id(item: Mapping[str, Any], asked: Sequence[str], key: str = "") -> str | None:
    """Map a reply entry back to the id we asked with (ARN, name or partial ARN)."""
    names = [item.get(k) for k in ((key,) if key else ("ARN", "Name"))]
    for secret_id in asked:
        for name in names:
            if isinstance(name, str) and name and (name == secret_id or _same_arn(name, secret_id)):
                return secret_id
    return None


def _same_arn(a: str, b: str) -> bool:
    """An ARN without its random 6-character suffix still names the secret."""
    if not (a.startswith("arn:") and b.startswith("arn:")):
        return False
    longer, shorter = (a, b) if len(a) >= len(b) else (b, a)
    return longer.startswith(shorter + "-") and len(longer) == len(shorter) + 7
