"""The RingCentral JWT credentials, read from their secret at login time.

Read on every login (logins are rare) so an operator's fix takes effect at
once, without a redeploy or a cache to expire.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ringcx_broker.errors import (
    CredentialsInvalid,
    CredentialsNotConfigured,
    SecretStoreUnavailable,
)
from ringcx_broker.secret_store import SecretDenied, SecretMissing, read_secret

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

REQUIRED_FIELDS = ("client_id", "client_secret", "jwt")


@dataclass(frozen=True, slots=True)
class Credentials:
    client_id: str
    client_secret: str = field(repr=False)
    jwt: str = field(repr=False)


class SecretCredentials:
    """Loads ``Credentials`` from ``CREDENTIALS_SECRET_ID``."""

    def __init__(self, client: SecretsManagerClient, secret_id: str | None) -> None:
        self._client = client
        self._secret_id = secret_id

    @property
    def configured(self) -> bool:
        return bool(self._secret_id)

    def load(self) -> Credentials:
        if not self._secret_id:
            raise CredentialsNotConfigured(
                "RingCentral credentials are not configured: CREDENTIALS_SECRET_ID is not set"
            )
        text = self._read(self._secret_id)
        return parse_credentials(text, self._secret_id)

    def _read(self, secret_id: str) -> str:
        try:
            return read_secret(self._client, secret_id, "credentials secret").text
        except SecretMissing as exc:
            raise CredentialsNotConfigured(
                f"RingCentral credentials are not configured: secret {secret_id} "
                "does not exist or has no value"
            ) from exc
        except SecretDenied as exc:
            raise SecretStoreUnavailable(
                f"could not read credentials secret {secret_id} (AccessDeniedException): "
                "check the function's IAM policy"
            ) from exc


def parse_credentials(text: str, secret_id: str) -> Credentials:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CredentialsInvalid(f"credentials secret {secret_id} is not valid JSON") from exc
    if not isinstance(data, dict):
        raise CredentialsInvalid(f"credentials secret {secret_id} is not a JSON object")
    if not data:
        raise CredentialsNotConfigured(
            f"RingCentral credentials are not configured: secret {secret_id} is empty; "
            f"put {', '.join(REQUIRED_FIELDS)} in it"
        )
    missing = [k for k in REQUIRED_FIELDS if not isinstance(data.get(k), str) or not data[k]]
    if missing:
        raise CredentialsInvalid(f"credentials secret {secret_id} lacks {', '.join(missing)}")
    return Credentials(data["client_id"], data["client_secret"], data["jwt"])
