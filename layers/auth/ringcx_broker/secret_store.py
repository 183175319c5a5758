"""One GetSecretValue with its failures sorted: missing is the caller's
problem to name, everything else means Secrets Manager is unavailable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ringcx_broker.errors import SecretStoreUnavailable

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


class SecretMissing(Exception):
    """The secret does not exist or has no current value."""


@dataclass(frozen=True, slots=True)
class SecretValue:
    text: str
    version_id: str


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "") or "error"


def read_secret(client: SecretsManagerClient, secret_id: str, what: str) -> SecretValue:
    """Raises ``SecretMissing``, or ``SecretStoreUnavailable`` naming ``what``."""
    try:
        reply = client.get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise SecretMissing(secret_id) from exc
        raise SecretStoreUnavailable(
            f"could not read {what} {secret_id} ({error_code(exc)})"
        ) from exc
    except BotoCoreError as exc:
        raise SecretStoreUnavailable(
            f"could not read {what} {secret_id} ({type(exc).__name__})"
        ) from exc
    return SecretValue(reply.get("SecretString") or "", reply.get("VersionId", ""))
