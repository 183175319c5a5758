"""Section 5: the Secrets Manager version quota, computed and measured.

Why: every PutSecretValue creates a version, versions under 24 h old are
never pruned, and a secret holds about 100. The ring spreads rotations over
K secrets so that each one is written every K·P seconds. This section checks
the ring's arithmetic (K >= 900 s / P, P ~ (1 - f)·L) against the real ``Refresher`` running on the
template's defaults (T, f, K) with production-length (300 s) tokens for the
equivalent of 24 h of ticks on a virtual clock, then counts the versions
each slot holds in moto (``ListSecretVersionIds``, deprecated included).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from benchmarks.harness import TemplateStack, broker_services, secrets_client, template_defaults
from benchmarks.stats import rounded
from benchmarks.vclock import VirtualClock
from ringcx_broker import refresher as refresher_module
from ringcx_broker.timing import TimingPolicy
from ringcx_dev.simulator import SimConfig, Simulator

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

DAY = 86_400.0
PRODUCTION_LIFETIME = 300.0
WRITE_FLOOR = 900.0  # no secret may be written more than once per 15 min
VERSION_QUOTA = 100
SCHEDULED_EVENT = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}


@dataclass(frozen=True, slots=True)
class Cadence:
    tick: float  # T
    fraction: float  # f
    ring_size: int  # K
    leeway: float
    lifetime: float = PRODUCTION_LIFETIME  # L

    @classmethod
    def from_template(cls) -> Cadence:
        env = template_defaults()
        return cls(
            tick=float(env["REFRESH_INTERVAL_SECONDS"]),
            fraction=float(env["REFRESH_FRACTION"]),
            ring_size=int(env["RING_SIZE"]),
            leeway=float(env["PROXY_LEEWAY_FRACTION"]),
        )

    @property
    def period(self) -> float:
        """P: the first tick at or after age (1 - f)·L."""
        return math.ceil(round((1 - self.fraction) * self.lifetime / self.tick, 9)) * self.tick

    def computed(self) -> dict[str, Any]:
        write_interval = self.ring_size * self.period
        return {
            "tick_s": self.tick,
            "refresh_fraction": self.fraction,
            "ring_size": self.ring_size,
            "lifetime_s": self.lifetime,
            "rotation_period_s": self.period,
            "write_interval_per_secret_s": write_interval,
            "versions_per_secret_per_24h": rounded(DAY / write_interval, 1),
            "meets_15_min_floor": write_interval >= WRITE_FLOOR,
        }


def count_versions(client: SecretsManagerClient, secret_id: str) -> int:
    """Every version the secret holds, deprecated ones included."""
    total, token = 0, ""
    while True:
        kwargs: dict[str, Any] = {"SecretId": secret_id, "IncludeDeprecated": True}
        if token:
            kwargs["NextToken"] = token
        page = client.list_secret_version_ids(**kwargs)
        total += len(page["Versions"])
        token = page.get("NextToken", "")
        if not token:
            return total


def measure(ticks: int = 1440, cadence: Cadence | None = None) -> dict[str, Any]:
    """Run ``ticks`` scheduled refreshes on a virtual clock and count versions."""
    cadence = cadence or Cadence.from_template()
    clock = VirtualClock()
    sim_config = SimConfig(token_lifetime=cadence.lifetime)
    client = secrets_client()
    stack = TemplateStack.create(client, sim_config)
    initial = {s: count_versions(client, s) for s in stack.stack.token_secret_ids}
    written_at: dict[str, list[float]] = defaultdict(list)
    actions: dict[str, int] = defaultdict(int)
    with Simulator(sim_config, clock=clock) as sim:
        timing = TimingPolicy(cadence.fraction, cadence.leeway, cadence.tick)
        services = broker_services(stack.settings(sim.base_url, timing), client, clock, clock.sleep)
        known = 0
        for _ in range(ticks):
            reply = refresher_module.handle(SCHEDULED_EVENT, services.refresher, clock)
            actions[str(reply.get("action"))] += 1
            if reply["generation"] != known:
                known = reply["generation"]
                written_at[services.ring.slot_of(known)].append(clock())
            clock.advance(cadence.tick)
    return _summary(cadence, ticks, _written(client, initial), written_at, dict(actions))


def _written(client: SecretsManagerClient, initial: Mapping[str, int]) -> dict[str, int]:
    return {s: count_versions(client, s) - before for s, before in initial.items()}


def _summary(
    cadence: Cadence,
    ticks: int,
    written: Mapping[str, int],
    written_at: Mapping[str, list[float]],
    actions: Mapping[str, int],
) -> dict[str, Any]:
    span = ticks * cadence.tick
    scale = DAY / span
    per_slot = [n * scale for n in written.values()]
    gaps = [b - a for times in written_at.values() for a, b in pairwise(times)]
    return {
        "clock": "virtual",
        "ticks": ticks,
        "simulated_hours": rounded(span / 3600, 2),
        "extrapolated": ticks * cadence.tick < DAY,
        "actions": dict(actions),
        "versions_written_per_slot": list(written.values()),
        "versions_per_secret_per_24h": {
            "min": rounded(min(per_slot), 1),
            "max": rounded(max(per_slot), 1),
            "mean": rounded(sum(per_slot) / len(per_slot), 1),
        },
        "min_seconds_between_writes_to_one_secret": min(gaps) if gaps else None,
        "quota": VERSION_QUOTA,
    }
