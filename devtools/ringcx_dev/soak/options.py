"""What one soak run is: its length, seed, fleet and load, and the template's cadence."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ringcx_broker.settings import Settings
from ringcx_broker.timing import TimingPolicy
from ringcx_dev.local.template import LocalContext, Template

from .schedule import DAY

ROOT: Final = Path(__file__).resolve().parents[3]
TEMPLATE: Final = ROOT / "template.yaml"
DEFAULT_SEED: Final = 9  # issue 9
PRODUCTION_LIFETIME: Final = 300.0


@dataclass(frozen=True, slots=True)
class Cadence:
    """T, f and the leeway as the template's parameter defaults set them, and K."""

    timing: TimingPolicy
    ring_size: int

    @classmethod
    def from_template(cls, path: Path = TEMPLATE) -> Cadence:
        template = Template.load(path)
        layout = template.secret_layout()
        physical = {layout.credentials: "credentials"}
        physical.update({slot: f"slot-{i}" for i, slot in enumerate(layout.ring)})
        resolved = template.resolve(LocalContext(physical_ids=physical))
        env = resolved.functions["RefreshFunction"].environment
        return cls(Settings.from_env(env).timing, len(layout.ring))


@dataclass(frozen=True, slots=True)
class SoakOptions:
    days: float = 7.0
    seed: int = DEFAULT_SEED
    proxies: int = 3
    requests_per_minute: float = 1.0  # per proxy container
    lifetime: float = PRODUCTION_LIFETIME  # L: RingCX's 5-minute tokens

    def __post_init__(self) -> None:
        if self.days <= 0 or self.proxies < 1 or self.requests_per_minute <= 0:
            raise ValueError("days and requests_per_minute must be > 0, proxies >= 1")

    @property
    def duration(self) -> float:
        return self.days * DAY
