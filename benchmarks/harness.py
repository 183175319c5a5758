"""The edges every section needs: moto's Secrets Manager, the template's
secrets and environment, call counting, and the broker's services wired to
an injected clock.

Why one module: the cold start, the fleet and the quota runs must see the
same secrets layout and the same environment as the template gives the
deployed functions, or the comparison would measure a different system.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import urllib3

from ringcx_broker.credentials import SecretCredentials
from ringcx_broker.exchange import Exchanger
from ringcx_broker.login import JwtLogin
from ringcx_broker.ratelimit import RateGate
from ringcx_broker.refresher import Refresher, RetryPolicy
from ringcx_broker.ring import TokenRing
from ringcx_broker.ringcentral import RingCentralClient
from ringcx_broker.ringcx import RingCXClient
from ringcx_broker.settings import Settings
from ringcx_broker.timing import Clock, Sleep, TimingPolicy
from ringcx_dev.local.template import LocalContext, ResolvedTemplate, Template
from ringcx_dev.simulator import SimConfig
from ringcx_dev.stack import LocalStack, create_stack, put_credentials

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"
PROXY_EVENT = "proxy-get-accounts.json"


def load_event(name: str = PROXY_EVENT) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


class LambdaContext:
    """The attributes of the runtime's context object that handlers read."""

    function_name = "benchmark"
    memory_limit_in_mb = 256
    aws_request_id = "bench-request"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:benchmark"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


# -- Secrets Manager -------------------------------------------------------------


def secrets_client() -> SecretsManagerClient:
    """Plain boto3: the endpoint comes from AWS_ENDPOINT_URL_SECRETS_MANAGER."""
    return boto3.client("secretsmanager")


def secrets_endpoint() -> str:
    """moto's URL, as the runner exported it for plain boto3."""
    return os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"]


def count_calls(client: Any) -> Counter[str]:
    """Count API calls (not HTTP retries) made through ``client``, per operation."""
    calls: Counter[str] = Counter()

    def on_call(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    client.meta.events.register("before-call.secrets-manager", on_call)
    return calls


@dataclass(frozen=True, slots=True)
class TemplateStack:
    """The template's secrets created in moto, and the environment it would give."""

    stack: LocalStack
    template: Template
    ring_logical_ids: tuple[str, ...]
    credentials_logical_id: str

    @classmethod
    def create(cls, client: SecretsManagerClient, sim: SimConfig | None = None) -> TemplateStack:
        """One slot per ``TokenSlot`` of the template; credentials stored when ``sim`` is given."""
        template = Template.load(TEMPLATE)
        layout = template.secret_layout()
        stack = create_stack(client, ring_size=len(layout.ring))
        if sim is not None:
            put_credentials(
                client, stack.credentials_secret_id, sim.client_id, sim.client_secret, sim.jwt
            )
        return cls(stack, template, layout.ring, layout.credentials)

    def resolve(self, upstream_url: str) -> ResolvedTemplate:
        """The template resolved against these secrets, upstreams pointed at the simulator."""
        physical = {self.credentials_logical_id: self.stack.credentials_secret_id}
        physical.update(zip(self.ring_logical_ids, self.stack.token_secret_ids, strict=True))
        return self.template.resolve(
            LocalContext(
                parameters={"RingCXServerUrl": upstream_url, "RingCentralServerUrl": upstream_url},
                physical_ids=physical,
            )
        )

    def settings(self, upstream_url: str, timing: TimingPolicy) -> Settings:
        return Settings(
            ringcx_url=upstream_url,
            ringcentral_url=upstream_url,
            credentials_secret_id=self.stack.credentials_secret_id,
            token_secret_ids=self.stack.token_secret_ids,
            timing=timing,
            refresh_function_name="benchmark-refresher",
        )


def template_defaults() -> Mapping[str, str]:
    """Global function variables at the template's parameter defaults (T, f, leeway)."""
    template = Template.load(TEMPLATE)
    layout = template.secret_layout()
    physical = {layout.credentials: "credentials"}
    physical.update({slot: f"slot-{i}" for i, slot in enumerate(layout.ring)})
    resolved = template.resolve(LocalContext(physical_ids=physical))
    env = dict(resolved.functions["RefreshFunction"].environment)
    env["RING_SIZE"] = str(len(env["TOKEN_SECRET_IDS"].split(",")))
    return env


# -- the broker's services on an injected clock ----------------------------------------


@dataclass(frozen=True, slots=True)
class Services:
    """The writers' side of one broker: a refresher and an exchanger, sharing gates."""

    refresher: Refresher
    exchanger: Exchanger
    ring: TokenRing


def broker_services(
    settings: Settings,
    client: SecretsManagerClient,
    clock: Clock,
    sleep: Sleep,
    pool: urllib3.PoolManager | None = None,
) -> Services:
    """Wire the layer's real classes as ``runtime`` does, but on ``clock``."""
    pool = pool or urllib3.PoolManager(maxsize=4, retries=False)
    gate = RateGate(clock)
    ring = TokenRing(client, settings.require_ring(), sleep=sleep)
    ringcx = RingCXClient(settings.ringcx_url, pool=pool, gate=gate, clock=clock)
    login = JwtLogin(
        SecretCredentials(client, settings.credentials_secret_id),
        RingCentralClient(settings.ringcentral_url, pool=pool, gate=gate),
        ringcx,
    )
    refresher = Refresher(
        ring,
        ringcx,
        login,
        settings.timing,
        clock=clock,
        sleep=sleep,
        retry=RetryPolicy(attempts=3, base=0.5, cap=4.0),
    )
    return Services(refresher, Exchanger(ring, ringcx, login, clock=clock), ring)


def scaled_sim_config(lifetime: float, production_lifetime: float = 300.0) -> SimConfig:
    """RingCX with ``lifetime``-second tokens and its auth limits scaled by the
    same ratio (5 calls per 60 s and a 60 s penalty at 300 s tokens)."""
    scale = lifetime / production_lifetime
    return SimConfig(
        token_lifetime=lifetime,
        rate_limit=5,
        rate_window=60.0 * scale,
        retry_after=max(1, round(60 * scale)),
    )
