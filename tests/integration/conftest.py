"""Services wired to the real edges: moto's server and the simulator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from ringcx_broker.credentials import SecretCredentials
from ringcx_broker.exchange import Exchanger
from ringcx_broker.login import JwtLogin
from ringcx_broker.ratelimit import RateGate, SecretTagPenalties
from ringcx_broker.refresher import Refresher, RetryPolicy
from ringcx_broker.ring import TokenRing
from ringcx_broker.ringcentral import RingCentralClient
from ringcx_broker.ringcx import RingCXClient
from ringcx_broker.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


class Containers:
    """Builds a fresh "container" (own pool, gate and caches) per call, the way
    separate Lambda execution environments would be."""

    def __init__(self, settings: Settings, client: SecretsManagerClient) -> None:
        self.settings = settings
        self.client = client

    def ring(self, client: Any = None) -> TokenRing:
        return TokenRing(client or self.client, self.settings.token_secret_ids, sleep=_no_sleep)

    def gate(self) -> RateGate:
        """A container's gate, sharing penalties through the credentials secret's
        tags as the deployed functions do (``runtime.rate_gate``)."""
        secret_id = self.settings.credentials_secret_id
        shared = SecretTagPenalties(self.client, secret_id) if secret_id else None
        return RateGate(shared=shared)

    def ringcx(self, gate: RateGate | None = None) -> RingCXClient:
        return RingCXClient(self.settings.ringcx_url, gate=gate or self.gate())

    def login(self, gate: RateGate | None = None) -> JwtLogin:
        gate = gate or self.gate()
        return JwtLogin(
            SecretCredentials(self.client, self.settings.credentials_secret_id),
            RingCentralClient(self.settings.ringcentral_url, gate=gate),
            self.ringcx(gate),
        )

    def exchanger(self, cooldown: float = 0.0, **kwargs: Any) -> Exchanger:
        """An exchange container. The cooldown between stored exchanges is off
        unless asked for: tests of rate limits log in several times in a row,
        and the cooldown has tests of its own."""
        gate = self.gate()
        return Exchanger(
            self.ring(), self.ringcx(gate), self.login(gate), cooldown=cooldown, **kwargs
        )

    def refresher(self, ring: TokenRing | None = None, **kwargs: Any) -> Refresher:
        gate = self.gate()
        kwargs.setdefault("sleep", _no_sleep)
        kwargs.setdefault("retry", RetryPolicy(attempts=3, base=0.01, cap=0.05))
        return Refresher(
            ring or self.ring(), self.ringcx(gate), self.login(gate), self.settings.timing, **kwargs
        )


def _no_sleep(_: float) -> None:
    return None


@pytest.fixture
def containers(settings: Settings, secrets_client: SecretsManagerClient) -> Containers:
    return Containers(settings, secrets_client)


class FlakySecrets:
    """moto's real client, with PutSecretValue throttled ``failures`` times."""

    def __init__(self, client: SecretsManagerClient, failures: int) -> None:
        self._client = client
        self.failures = failures
        self.puts = 0

    def get_secret_value(self, **kwargs: Any) -> Any:
        return self._client.get_secret_value(**kwargs)

    def batch_get_secret_value(self, **kwargs: Any) -> Any:
        return self._client.batch_get_secret_value(**kwargs)

    def put_secret_value(self, **kwargs: Any) -> Any:
        self.puts += 1
        if self.failures > 0:
            self.failures -= 1
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
                "PutSecretValue",
            )
        return self._client.put_secret_value(**kwargs)
