"""Runs the chosen sections in order around one moto server, and judges the goals.

Why a runner: the sections share expensive set-up (moto, the ``sam build``)
and the footprint reuses the cold start's memory figures, so the order and
the sharing live in one place instead of in every section.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from benchmarks import cold_start, fleet, footprint, latency, machine, quota, report, warm
from benchmarks.build import Build, build
from benchmarks.harness import TemplateStack, secrets_client
from benchmarks.latency import LOOPBACK, Latency
from ringcx_dev.lambda_process import find_python313
from ringcx_dev.moto_server import MotoServer, patched_env
from ringcx_dev.simulator import SimConfig, Simulator

Printer = Callable[[str], None]


class Runner:
    def __init__(self, args: argparse.Namespace, out: Printer, built: Build | None = None) -> None:
        """``built``: a build to use instead of running ``sam build`` (tests)."""
        self.args = args
        self.out = out
        self.results: dict[str, Any] = {}
        self._build: Build | None = built
        self._moto: MotoServer | None = None
        self.latency = Latency(
            args.sm_latency / 1000, args.invoke_latency / 1000, args.ringcx_latency / 1000
        )
        # The injected-latency mode first: it gives the headline figures. With
        # every latency at 0 it would be loopback twice, so it is left out.
        self.modes: list[Latency] = []
        if "latency" in args.modes and self.latency.mode == "latency":
            self.modes.append(self.latency)
        if "loopback" in args.modes:
            self.modes.append(LOOPBACK)

    def run(self) -> dict[str, Any]:
        info = machine.describe(find_python313())
        self.results["machine"] = info
        self.results["parameters"] = {
            k: (list(v) if isinstance(v, tuple) else str(v) if k == "output" else v)
            for k, v in vars(self.args).items()
        }
        report.machine(info, self.out)
        with self._emulators():
            for name in self.args.sections:
                started = time.perf_counter()
                data = getattr(self, f"_{name}")()
                data["seconds"] = round(time.perf_counter() - started, 1)
                self.results[name] = data
                getattr(report, {"cold": "cold_start"}.get(name, name))(data, self.out)
                self.out(f"  ({data['seconds']:.0f} s)")
        self.results["goals"] = [
            {"goal": g, "met": ok, "detail": d} for g, ok, d in judge(self.results)
        ]
        report.goals(judge(self.results), self.out)
        self.results["machine"]["load_average_at_end"] = machine.load_average()
        self.out(f"  load average at end {self.results['machine']['load_average_at_end']}")
        return self.results

    @contextmanager
    def _emulators(self) -> Iterator[None]:
        self._moto = MotoServer()
        self._moto.start()
        try:
            with patched_env(self._moto.env()):
                yield
        finally:
            self._moto.stop()

    def _built(self) -> Build:
        if self._build is None:
            self._build = build(reuse=self.args.reuse_build)
            how = "reused" if self._build.reused else f"built in {self._build.seconds:.1f} s"
            self.out(f"\nsam build: {how} ({self._build.stack.root})")
        return self._build

    # -- sections -------------------------------------------------------------------

    def _cold(self) -> dict[str, Any]:
        built = self._built()
        assert self._moto is not None
        with Simulator(SimConfig()) as sim:
            stack = TemplateStack.create(secrets_client(), sim.state.config)
            cold_start.seed_ring(stack, sim.base_url)
            # No Lambda API behind the invoke proxy: with a fresh token in the
            # ring neither side may invoke the refresher, and if one did, the
            # count (and a 502) would show it.
            with latency.proxies(self._moto.url, sim.base_url) as via:
                envs = cold_start.cold_start_envs(
                    stack, built.stack, sim.base_url, self._moto.env(), via
                )
                return cold_start.measure(
                    built.python, built.stack, envs, self.args.cold_runs, via, self.modes
                )

    def _warm(self) -> dict[str, Any]:
        modes = {}
        for mode in self.modes:
            requests = self.args.warm_requests
            if mode.mode == "latency":
                requests = self.args.warm_latency_requests
            modes[mode.mode] = warm.measure(requests, mode)
        return {"goal_p50_ms": warm.GOAL_P50_MS, "modes": modes}

    def _fleet(self) -> dict[str, Any]:
        cfg = fleet.FleetConfig(
            lifetime=self.args.fleet_lifetime,
            lifetimes=self.args.fleet_lifetimes,
            sizes=self.args.fleet_sizes,
            requests_per_lifetime=self.args.fleet_rate,
        )
        data = fleet.measure(cfg)
        if self.latency in self.modes and self.args.fleet_latency_sizes:
            slow = dataclasses.replace(cfg, latency=self.latency)
            data["at_latency"] = fleet.measure(slow, self.args.fleet_latency_sizes)
            data["at_latency_counts_match_loopback"] = fleet.counts_match(data, data["at_latency"])
        return data

    def _footprint(self) -> dict[str, Any]:
        return footprint.measure(self._built().stack, self.results.get("cold"))

    def _soak(self) -> dict[str, Any]:
        from ringcx_dev.soak import measure as soak

        return soak(days=self.args.soak_days, seed=self.args.soak_seed)

    def _quota(self) -> dict[str, Any]:
        cadence = quota.Cadence.from_template()
        return {
            "computed": cadence.computed(),
            "measured": quota.measure(self.args.quota_ticks, cadence),
        }


Goal = tuple[str, bool | None, str]
LABELS = {"latency": "at injected latency", "loopback": "on loopback"}


def judge(results: dict[str, Any]) -> list[Goal]:
    """Each goal of the performance budget with the figure that decides it,
    per mode: the injected-latency goals first, then the loopback ones."""
    lines: list[Goal] = []
    modes = [m for m in LABELS if m in _modes_of(results)]
    for mode in modes:
        if cold := results.get("cold", {}).get("modes", {}).get(mode):
            lines.extend(_cold_goals(cold, results["cold"], LABELS[mode]))
        if (w := results.get("warm", {}).get("modes", {}).get(mode)) and not w.get("skipped"):
            lines.extend(_warm_goals(w, LABELS[mode]))
    if f := results.get("fleet"):
        lines.extend(_fleet_goals(f))
    if fp := results.get("footprint"):
        biggest = max(fp["function_bytes"].values())
        lines.append(
            (
                "layer < 10 MB, no boto3; functions < 100 KB",
                fp["layer_bytes"] < fp["layer_limit_bytes"]
                and not fp["layer_vendors_runtime_packages"]
                and biggest < fp["function_limit_bytes"],
                f"layer {fp['layer_bytes'] / 2**20:.2f} MB, "
                f"largest function {biggest / 1024:.1f} KB",
            )
        )
    if s := results.get("soak"):
        days = s["soak"]["days"]
        lines.extend(
            (
                f"soak ({days:g} virtual days): {v['target']} <= {v['at_most']:g}",
                v["pass"],
                f"{v['value']:g}",
            )
            for v in s["verdicts"]
        )
    if q := results.get("quota"):
        worst = q["measured"]["versions_per_secret_per_24h"]["max"]
        lines.append(
            (
                "versions per secret per 24 h below the ~100 quota",
                worst < q["measured"]["quota"],
                f"computed {q['computed']['versions_per_secret_per_24h']}, measured max {worst}",
            )
        )
    return lines


def _modes_of(results: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for section in ("cold", "warm"):
        found |= set(results.get(section, {}).get("modes", {}))
    return found


def _cold_goals(data: dict[str, Any], cold: dict[str, Any], label: str) -> list[Goal]:
    broker, baseline = data["broker"], data["baseline"]
    goal_ratio, goal_trips = cold["goal_ratio"], cold["goal_secrets_round_trips"]
    lines: list[Goal] = [
        (
            f"cold start <= {goal_ratio}x baseline, {label}",
            data["ratio"] is not None and data["ratio"] <= goal_ratio,
            f"{data['ratio']:.2f}x ({broker['median_ms']:.0f} vs {baseline['median_ms']:.0f} ms, "
            f"medians of {data['runs_per_side']} per side)",
        )
    ]
    if "secrets_manager_round_trips" in broker:
        lines.append(
            (
                f"<= {goal_trips} Secrets Manager round trips on the cold path, {label}",
                broker["secrets_manager_round_trips"] <= goal_trips,
                f"broker {_trips(broker)}, baseline {_trips(baseline)}",
            )
        )
    return lines


def _trips(side: dict[str, Any]) -> str:
    low, high = side["secrets_manager_round_trips_range"]
    sm = f"{high}" if low == high else f"{low}-{high}"
    ops = ", ".join(
        f"{k} {v}" for k, v in side["round_trips"]["secrets_manager_by_operation"].items()
    )
    return f"{sm} SM ({ops}) + {side['lambda_invoke_round_trips']} Invoke"


def _warm_goals(w: dict[str, Any], label: str) -> list[Goal]:
    return [
        (
            f"warm overhead p50 < {w['goal_p50_ms']} ms, {label}",
            w["p50_ms"] < w["goal_p50_ms"],
            f"p50 {w['p50_ms']:.3f} ms, p95 {w['p95_ms']:.3f} ms over {w['requests']} requests",
        ),
        (
            f"0 Secrets Manager calls on warm requests, {label}",
            w["secrets_calls_per_1000"] == 0,
            f"{w['secrets_calls_per_1000']} per 1,000",
        ),
    ]


def _fleet_goals(data: dict[str, Any]) -> list[Goal]:
    rows = data["rows"]
    per_lifetime = [r["broker"]["auth_calls_per_lifetime"] for r in rows]
    per_rotation = max(r["broker"]["refreshes_per_rotation"] for r in rows)
    flat = max(per_lifetime) - min(per_lifetime) <= 0.5
    return [
        (
            "broker auth calls per lifetime independent of N",
            flat,
            ", ".join(f"N={r['containers']}: {p}" for r, p in zip(rows, per_lifetime, strict=True)),
        ),
        (
            # The budget is per token generation: one rotation each, whatever N. Per
            # lifetime it is L/P = 1/(1 - f) by design (1.67 at f = 0.4), plus the bootstrap.
            "broker 1 auth call per token generation after the bootstrap",
            per_rotation <= 1.0,
            f"refresh calls per rotation: max {per_rotation}; "
            f"all auth calls per generation (bootstrap included): "
            f"{max(r['broker']['auth_calls_per_generation'] for r in rows)}; per lifetime "
            f"{max(per_lifetime)} (1 rotation per P = {data['rotation_period_s']:g} s = "
            f"{data['expected_refreshes_per_lifetime']} per lifetime by design)",
        ),
        (
            "broker never rate-limited",
            all(r["broker"]["rate_limited"] == 0 for r in rows),
            ", ".join(f"N={r['containers']}: {r['broker']['rate_limited']}" for r in rows),
        ),
    ]
