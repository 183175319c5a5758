"""Section 1: cold start of the built ProxyFunction vs a bare boto3+urllib3 handler.

What is timed: from just before the process is spawned to the moment its
first response line arrives - interpreter start, imports, init, the ring
reads from moto and the upstream GET to the simulator. That is what a
caller waits for on a cold Lambda, minus the sandbox itself.

Both sides run in a fresh ``python3.13 -I -S`` with only the runtime's
packages, the same environment (the template's, pointed at moto and the
simulator through FaultProxies) and the same event, alternating, so drift on
the machine hits both equally. Each mode sets the proxies' latency: AWS-like
(the headline) or none (loopback); the proxies count every round trip each
run makes. ``-X importtime`` then breaks down the handler's import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.harness import ROOT, TemplateStack, broker_services, load_event, secrets_client
from benchmarks.latency import LOOPBACK, Latency, Proxies, RoundTrips
from benchmarks.stats import median, ratio, rounded
from ringcx_dev.lambda_process import (
    BuiltStack,
    bootstrap_command,
    isolated_env,
    memory_line,
    result_line,
)
from ringcx_dev.local.functions import lambda_environment

BASELINE_DIR = ROOT / "benchmarks"
BASELINE_MODULE = "baseline_handler"
PROXY = "ProxyFunction"
GOAL_RATIO = 1.15
GOAL_SECRETS_ROUND_TRIPS = 2


@dataclass(frozen=True, slots=True)
class ColdRun:
    seconds: float
    status: int | None
    max_rss_kb: int
    round_trips: RoundTrips | None = None


def spawn_once(
    python: str,
    paths: Sequence[str],
    module: str,
    env: Mapping[str, str],
    event: object,
    proxies: Proxies | None = None,
) -> ColdRun:
    """Start a fresh process, invoke once, and time process start -> first response;
    with ``proxies``, also count the round trips the process made through them."""
    if proxies is not None:
        proxies.reset()
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        with subprocess.Popen(
            bootstrap_command(python, paths, module, report_memory=True),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env=dict(env),
        ) as proc:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps([event]))
            proc.stdin.close()
            first: dict[str, Any] | None = None
            while first is None:
                line = proc.stdout.readline()
                if not line:
                    break
                first = result_line(line)
            elapsed = time.perf_counter() - started
            rest = proc.stdout.read().splitlines()
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    if first is None or proc.returncode != 0:
        raise RuntimeError(
            f"{module} produced no response (exit {proc.returncode}): {stderr[-2000:]}"
        )
    result = first.get("result")
    status = result.get("statusCode") if isinstance(result, dict) else None
    peak = next((kb for kb in map(memory_line, rest) if kb is not None), 0)
    trips = proxies.snapshot() if proxies is not None else None
    return ColdRun(elapsed, status, peak, trips)


def interpreter_floor(python: str, runs: int) -> float:
    """Median start-up of a bare ``python3.13 -I -S -c pass``: the fixed cost of both sides."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([python, "-I", "-S", "-c", "pass"], check=True)
        times.append(time.perf_counter() - started)
    return median(times)


# -- -X importtime ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportLine:
    self_us: int
    cumulative_us: int
    depth: int
    name: str


def parse_importtime(stderr: str) -> list[ImportLine]:
    """Lines like ``import time:   123 |   4567 |   aws_lambda_powertools``."""
    lines = []
    for raw in stderr.splitlines():
        if not raw.startswith("import time:") or "self [us]" in raw:
            continue
        self_us, cumulative_us, name = raw.removeprefix("import time:").split("|", 2)
        stripped = name.lstrip(" ")
        depth = (len(name) - len(stripped) - 1) // 2
        lines.append(ImportLine(int(self_us), int(cumulative_us), depth, stripped.strip()))
    return lines


def import_profile(
    python: str, paths: Sequence[str], module: str, env: Mapping[str, str], event: object
) -> dict[str, Any]:
    """One cold start under ``-X importtime``: what importing the handler costs,
    what the first invoke imports lazily (boto3, for the broker), the five
    costliest imports and the cost by package."""
    done = subprocess.run(
        bootstrap_command(python, paths, module, flags=["-X", "importtime"]),
        input=json.dumps([event]),
        capture_output=True,
        text=True,
        env=dict(env),
        check=True,
    )
    lines = parse_importtime(done.stderr)
    root = next(line for line in lines if line.depth == 0 and line.name == module)
    at = lines.index(root)
    # importtime prints children before their parent: the handler's subtree is
    # the run of deeper lines right before it; what follows came during the invoke.
    first = at
    while first > 0 and lines[first - 1].depth > 0:
        first -= 1
    subtree, lazy = lines[first:at], lines[at + 1 :]
    lazy_ms = sum(line.cumulative_us for line in lazy if line.depth == 0) / 1000
    costly = sorted([*subtree, *lazy], key=lambda line: line.cumulative_us, reverse=True)[:5]
    by_package: dict[str, int] = defaultdict(int)
    for line in [*subtree, root, *lazy]:
        by_package[_package_of(line.name)] += line.self_us
    return {
        "handler_import_ms": root.cumulative_us / 1000,
        "first_invoke_imports_ms": lazy_ms,
        "total_ms": root.cumulative_us / 1000 + lazy_ms,
        "modules": len(subtree) + 1 + len(lazy),
        "top5": [
            {"module": line.name, "cumulative_ms": line.cumulative_us / 1000} for line in costly
        ],
        "by_package_ms": {
            name: us / 1000 for name, us in sorted(by_package.items(), key=lambda kv: -kv[1])
        },
        "self_ms_by_module": {line.name: line.self_us / 1000 for line in [*subtree, root, *lazy]},
    }


_PACKAGES = frozenset(
    {
        "aws_lambda_powertools",
        "boto3",
        "botocore",
        "dateutil",
        "jmespath",
        "ringcx_broker",
        "s3transfer",
        "six",
        "urllib3",
    }
)


def _package_of(module: str) -> str:
    top = module.split(".", 1)[0]
    if top in _PACKAGES:
        return top
    if top in ("app", BASELINE_MODULE):
        return "handler"
    if top in sys.stdlib_module_names or top.startswith("_"):
        return "stdlib"
    return "other"


def median_profile(
    python: str,
    paths: Sequence[str],
    module: str,
    env: Mapping[str, str],
    event: object,
    runs: int = 5,
) -> dict[str, Any]:
    """The profile of median total among ``runs`` (importtime is noisy)."""
    profiles = sorted(
        (import_profile(python, paths, module, env, event) for _ in range(runs)),
        key=lambda p: float(p["total_ms"]),
    )
    return profiles[len(profiles) // 2]


# -- the section -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ColdEnvs:
    """The child's environment pointed at the proxies, and straight at the emulators."""

    proxied: dict[str, str]
    direct: dict[str, str]


def cold_start_env(
    stack: TemplateStack, built: BuiltStack, upstream_url: str, aws_env: Mapping[str, str]
) -> dict[str, str]:
    """The template's ProxyFunction variables, Lambda's own, and the emulator endpoints."""
    spec = stack.resolve(upstream_url).functions[PROXY]
    lambda_vars = lambda_environment(spec, "us-east-1")
    lambda_vars["LAMBDA_TASK_ROOT"] = str(built.function_dir(PROXY))
    return isolated_env({**spec.environment, **lambda_vars, **aws_env})


def cold_start_envs(
    stack: TemplateStack,
    built: BuiltStack,
    upstream_url: str,
    aws_env: Mapping[str, str],
    proxies: Proxies,
) -> ColdEnvs:
    return ColdEnvs(
        proxied=cold_start_env(stack, built, proxies.ringcx.url, {**aws_env, **proxies.aws_env()}),
        direct=cold_start_env(stack, built, upstream_url, aws_env),
    )


def sides(built: BuiltStack) -> dict[str, tuple[list[str], str]]:
    """``sys.path`` and handler module of each side."""
    return {
        "broker": (built.sys_path(PROXY), "app"),
        "baseline": ([str(BASELINE_DIR), str(built.runtime)], BASELINE_MODULE),
    }


def time_sides(
    python: str,
    built: BuiltStack,
    env: Mapping[str, str],
    runs: int,
    proxies: Proxies | None,
    event: Mapping[str, Any],
) -> dict[str, Any]:
    """Alternate broker and baseline cold starts (after one discarded pair);
    medians, ratios and, with ``proxies``, the round trips of every run."""
    both = sides(built)
    for paths, module in both.values():  # fill the page cache; not counted
        spawn_once(python, paths, module, env, event, proxies)
    samples: dict[str, list[ColdRun]] = {name: [] for name in both}
    for i in range(runs):
        order = list(both) if i % 2 == 0 else list(reversed(both))
        for name in order:
            paths, module = both[name]
            samples[name].append(spawn_once(python, paths, module, env, event, proxies))
    result: dict[str, Any] = {"runs_per_side": runs}
    for name, runs_ in samples.items():
        result[name] = {
            "median_ms": median([r.seconds for r in runs_]) * 1000,
            "min_ms": min(r.seconds for r in runs_) * 1000,
            "max_ms": max(r.seconds for r in runs_) * 1000,
            "statuses": sorted({r.status for r in runs_}, key=str),
            "peak_rss_mb": median([r.max_rss_kb for r in runs_]) / 1024,
            **round_trip_figures([r.round_trips for r in runs_ if r.round_trips is not None]),
        }
    result["ratio"] = rounded(ratio(result["broker"]["median_ms"], result["baseline"]["median_ms"]))
    # The fastest run of each side is the least disturbed by other load on the
    # machine: a second view of the same comparison.
    result["ratio_of_minimums"] = rounded(
        ratio(result["broker"]["min_ms"], result["baseline"]["min_ms"])
    )
    # Each broker run and the baseline run next to it share the machine's load
    # at that moment: the median of those pairwise ratios is a third view.
    result["median_paired_ratio"] = rounded(
        median(
            [
                b.seconds / a.seconds
                for b, a in zip(samples["broker"], samples["baseline"], strict=True)
            ]
        )
    )
    return result


def round_trip_figures(trips: Sequence[RoundTrips]) -> dict[str, Any]:
    """Round trips of one side's cold path: the same in every run unless the
    code path varies, so the range is kept to show that it did not."""
    if not trips:
        return {}
    secrets = [t.secrets_total for t in trips]
    invokes = [t.invoke for t in trips]
    return {
        "round_trips": trips[-1].to_json(),
        "secrets_manager_round_trips": max(secrets),
        "secrets_manager_round_trips_range": [min(secrets), max(secrets)],
        "lambda_invoke_round_trips": max(invokes),
        "lambda_invoke_round_trips_range": [min(invokes), max(invokes)],
        "proxied_errors": sum(t.errors for t in trips),
    }


def measure(
    python: str,
    built: BuiltStack,
    envs: ColdEnvs,
    runs: int,
    proxies: Proxies,
    modes: Sequence[Latency],
    event: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Each mode's side-by-side cold starts, then the import breakdown (once:
    imports do not depend on latency).

    At injected latency every run goes through the proxies and is counted.
    On loopback the timed runs go straight to moto and the simulator, as the
    loopback figure always has: a proxy hop costs about a millisecond per
    round trip, which would tax the side with more round trips. Its round
    trips come from one more, untimed run per side through the proxies."""
    event = event or load_event()
    result: dict[str, Any] = {
        "goal_ratio": GOAL_RATIO,
        "goal_secrets_round_trips": GOAL_SECRETS_ROUND_TRIPS,
        "modes": {},
    }
    for latency in modes:
        proxies.apply(latency)
        if latency.mode == "loopback":
            timed = time_sides(python, built, envs.direct, runs, None, event)
            counted = {
                name: spawn_once(python, paths, module, envs.proxied, event, proxies)
                for name, (paths, module) in sides(built).items()
            }
            for name, run in counted.items():
                assert run.round_trips is not None
                timed[name].update(round_trip_figures([run.round_trips]))
            timed["round_trips_counted"] = "in one extra untimed run per side, via the proxies"
        else:
            timed = time_sides(python, built, envs.proxied, runs, proxies, event)
            timed["round_trips_counted"] = "in every timed run, at the proxies"
        result["modes"][latency.mode] = {"latency": latency.to_json(), **timed}
    proxies.apply(LOOPBACK)
    both = sides(built)
    result["interpreter_floor_ms"] = interpreter_floor(python, max(3, runs // 2)) * 1000
    result["import"] = {
        name: median_profile(python, paths, module, envs.direct, event)
        for name, (paths, module) in both.items()
    }
    result["import_difference"] = import_difference(result["import"])
    result["import_steps_ms"] = import_steps(python, built.sys_path(PROXY), envs.direct)
    result["routing_options_ms"] = routing_options(python, built.sys_path(PROXY), envs.direct)
    return result


def peak_rss_mb(cold: Mapping[str, Any]) -> dict[str, float]:
    """Each side's peak RSS, from the first mode measured."""
    first = next(iter(cold["modes"].values()))
    return {side: first[side]["peak_rss_mb"] for side in ("broker", "baseline")}


# Imported one after another in one process, so each figure is what that step
# adds on top of the ones before it. urllib3 and botocore come first because
# the baseline pays for them too (Powertools imports botocore to tag its user
# agent); what follows is the broker's own cost.
IMPORT_STEPS = (
    "urllib3",
    "botocore",
    "aws_lambda_powertools",
    "ringcx_broker.proxy.app",
    "app",
)
# Ways to route the proxy's three paths, each measured on top of what every way
# imports anyway (urllib3, botocore, Powertools' Logger): the resolver the proxy
# used to import, Powertools' typed REST event, and the small router it uses now.
ROUTING_OPTIONS = {
    "Powertools APIGatewayRestResolver": "aws_lambda_powertools.event_handler",
    "Powertools APIGatewayProxyEvent": "aws_lambda_powertools.utilities.data_classes",
    "own router (ringcx_broker.proxy.routes)": "ringcx_broker.proxy.routes",
}
ROUTING_BASE = ("urllib3", "botocore", "aws_lambda_powertools")


def import_steps(
    python: str, paths: Sequence[str], env: Mapping[str, str], runs: int = 5
) -> dict[str, float]:
    """Median added import time of each of ``IMPORT_STEPS``, in order."""
    return _imported(python, paths, env, IMPORT_STEPS, runs)


def routing_options(
    python: str, paths: Sequence[str], env: Mapping[str, str], runs: int = 7
) -> dict[str, float]:
    """Median added import time of each of ``ROUTING_OPTIONS``, each in its own
    fresh process after ``ROUTING_BASE``."""
    return {
        label: _imported(python, paths, env, (*ROUTING_BASE, module), runs)[module]
        for label, module in ROUTING_OPTIONS.items()
    }


def _imported(
    python: str, paths: Sequence[str], env: Mapping[str, str], modules: Sequence[str], runs: int
) -> dict[str, float]:
    """Import ``modules`` one after another in a fresh ``-X importtime`` process,
    ``runs`` times: the median cumulative milliseconds of each."""
    code = "import os, sys; sys.path[:0] = sys.argv[1].split(os.pathsep)\n" + "\n".join(
        f"import {name}" for name in modules
    )
    samples: dict[str, list[float]] = {name: [] for name in modules}
    for _ in range(runs):
        done = subprocess.run(
            [python, "-I", "-S", "-X", "importtime", "-c", code, os.pathsep.join(paths)],
            capture_output=True,
            text=True,
            env=dict(env),
            check=True,
        )
        tops = {line.name: line.cumulative_us for line in parse_importtime(done.stderr)}
        for name in modules:
            samples[name].append(tops.get(name, 0) / 1000)
    return {name: median(values) for name, values in samples.items()}


def import_difference(profiles: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """What the broker imports beyond the baseline: the cost behind the ratio.

    Drops the per-module tables from ``profiles`` (too long for the JSON)."""
    broker = profiles["broker"].pop("self_ms_by_module")
    baseline = profiles["baseline"].pop("self_ms_by_module")
    only = {name: ms for name, ms in broker.items() if name not in baseline}
    packages = set(profiles["broker"]["by_package_ms"]) | set(profiles["baseline"]["by_package_ms"])
    delta = {
        name: profiles["broker"]["by_package_ms"].get(name, 0.0)
        - profiles["baseline"]["by_package_ms"].get(name, 0.0)
        for name in packages
    }
    return {
        "total_ms": profiles["broker"]["total_ms"] - profiles["baseline"]["total_ms"],
        "broker_only_modules": len(only),
        "broker_only_ms": sum(only.values()),
        "broker_only_by_package_ms": _by_package(only),
        "broker_only_top5_self_ms": dict(sorted(only.items(), key=lambda kv: -kv[1])[:5]),
        "by_package_delta_ms": dict(sorted(delta.items(), key=lambda kv: -kv[1])),
    }


def _by_package(self_ms: Mapping[str, float]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for name, ms in self_ms.items():
        totals[_package_of(name)] += ms
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def seed_ring(stack: TemplateStack, upstream_url: str) -> int:
    """Store generation 1 the way an operator's first exchange would."""
    from ringcx_broker.timing import TimingPolicy, system_clock

    client = secrets_client()
    services = broker_services(
        stack.settings(upstream_url, TimingPolicy()), client, system_clock, time.sleep
    )
    return services.exchanger.exchange(None).generation
