"""The template's secrets, created in a (local or emulated) Secrets Manager,
and the environment the template would give each function.

Tests, the local run and the benchmarks all use this one piece, so the secret
layout lives in exactly one place besides ``template.yaml``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

RING_SIZE = 6


@dataclass(frozen=True, slots=True)
class LocalStack:
    credentials_secret_id: str
    token_secret_ids: tuple[str, ...]

    def env(self, ringcx_url: str, ringcentral_url: str) -> dict[str, str]:
        return {
            "RINGCX_SERVER_URL": ringcx_url,
            "RINGCENTRAL_SERVER_URL": ringcentral_url,
            "CREDENTIALS_SECRET_ID": self.credentials_secret_id,
            "TOKEN_SECRET_IDS": ",".join(self.token_secret_ids),
        }


def create_stack(
    client: SecretsManagerClient, prefix: str | None = None, ring_size: int = RING_SIZE
) -> LocalStack:
    """Create the credentials secret and the ring's slots, all as ``{}``."""
    prefix = prefix or f"ringcx-broker-{uuid.uuid4().hex[:8]}"
    arns = [
        client.create_secret(Name=f"{prefix}/{name}", SecretString="{}")["ARN"]
        for name in ["credentials", *(f"token-slot-{i}" for i in range(ring_size))]
    ]
    return LocalStack(credentials_secret_id=arns[0], token_secret_ids=tuple(arns[1:]))


def put_credentials(
    client: SecretsManagerClient, secret_id: str, client_id: str, client_secret: str, jwt: str
) -> None:
    client.put_secret_value(
        SecretId=secret_id,
        SecretString=json.dumps(
            {"client_id": client_id, "client_secret": client_secret, "jwt": jwt}
        ),
    )
