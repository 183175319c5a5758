"""``python -m ringcx_dev.local``: the whole broker on loopback, from one command.

Why a CLI of its own: a new user must see the broker work without an AWS
account, Docker or network, and an operator must be able to try the same
code against the real RingCentral and AWS before deploying (``--real``),
with the run refusing to start - and naming what is missing - rather than
half-working. ``--smoke`` turns the same run into a CI check.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Final

from ringcx_dev.local.console import Console
from ringcx_dev.local.httpserver import PortInUse
from ringcx_dev.local.runner import (
    Credentials,
    LocalRun,
    RealServices,
    RunConfig,
    StartupError,
)
from ringcx_dev.local.sigv4 import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_SECRET_ACCESS_KEY,
    DEFAULT_SESSION_TOKEN,
    SERVICE,
    SigningKey,
    SigV4Verifier,
)
from ringcx_dev.local.smoke import (
    ACCOUNTS_PATH,
    SMOKE_TICK_SECONDS,
    SMOKE_TOKEN_LIFETIME,
    run_smoke,
    signed_call,
)
from ringcx_dev.local.template import RestApi, TemplateError

DEFAULT_PORT: Final = 3000
DEFAULT_TOKEN_LIFETIME: Final = 300.0
STATUS_INTERVAL: Final = 1.0
HEALTH_INTERVAL: Final = 10.0
CREDENTIAL_VARIABLES: Final = {
    "client_id": "RINGCENTRAL_CLIENT_ID",
    "client_secret": "RINGCENTRAL_CLIENT_SECRET",
    "jwt": "RINGCENTRAL_JWT",
}


class UsageError(Exception):
    """The command line (or environment) cannot start a run; the message says why."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ringcx_dev.local",
        description="Run ringcx-broker locally: simulator, moto Secrets Manager, the three "
        "functions, the REST API, Lambda Invoke emulation and the schedule, all on loopback.",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"local API port ({DEFAULT_PORT}; a free one with --smoke)",
    )
    parser.add_argument(
        "--lambda-port", type=int, default=0, help="Lambda Invoke API port (0 = any free port)"
    )
    parser.add_argument(
        "--template", type=Path, default=Path("template.yaml"), help="SAM template (template.yaml)"
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="template parameter override (repeatable)",
    )
    parser.add_argument(
        "--token-lifetime",
        type=float,
        default=None,
        help=f"simulator token lifetime in s ({DEFAULT_TOKEN_LIFETIME:g}; "
        f"{SMOKE_TOKEN_LIFETIME:g} with --smoke)",
    )
    parser.add_argument(
        "--tick-seconds",
        type=float,
        default=None,
        help="schedule period override, a fast clock (default: the template's rate; "
        f"{SMOKE_TICK_SECONDS:g} with --smoke)",
    )
    parser.add_argument("--log-dir", type=Path, default=None, help="function logs (.local/logs)")
    parser.add_argument("--show-logs", action="store_true", help="also print function logs")
    parser.add_argument(
        "--require-sigv4",
        action="store_true",
        help="verify SigV4 like API Gateway's AWS_IAM auth: unsigned or badly signed requests "
        "get 403. The one key accepted: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        "[/AWS_SESSION_TOKEN] if set, else "
        f"{DEFAULT_ACCESS_KEY_ID}/{DEFAULT_SECRET_ACCESS_KEY}/{DEFAULT_SESSION_TOKEN}. "
        "Always on with --smoke",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="run the scripted CI session (SigV4 verified), exit"
    )
    real = parser.add_argument_group("real mode (real RingCentral/RingCX and AWS Secrets Manager)")
    real.add_argument(
        "--real",
        action="store_true",
        help="real hosts and real Secrets Manager (your AWS profile); no simulator, no moto",
    )
    real.add_argument("--ringcx-url", help="RingCX host (env RINGCX_SERVER_URL)")
    real.add_argument("--ringcentral-url", help="RingCentral host (env RINGCENTRAL_SERVER_URL)")
    real.add_argument(
        "--credentials-file",
        type=Path,
        help='JSON {"client_id", "client_secret", "jwt"} (else env RINGCENTRAL_CLIENT_ID, '
        "RINGCENTRAL_CLIENT_SECRET, RINGCENTRAL_JWT)",
    )
    real.add_argument(
        "--credentials-secret-id",
        help="the deployed credentials secret (env CREDENTIALS_SECRET_ID)",
    )
    real.add_argument(
        "--token-secret-ids",
        help="comma-separated token ring secrets, in slot order (env TOKEN_SECRET_IDS)",
    )
    real.add_argument("--region", help="AWS region (env AWS_REGION / AWS_DEFAULT_REGION)")
    return parser


# -- configuration -----------------------------------------------------------


def parse_params(values: Sequence[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--param expects NAME=VALUE, got {value!r}")
        params[name.strip()] = text
    return params


AwsProbe = Callable[[], tuple[str | None, bool]]
"""Returns (the profile's region, whether AWS credentials are available)."""


def default_aws_probe() -> tuple[str | None, bool]:
    import boto3

    session = boto3.Session()
    return session.region_name, session.get_credentials() is not None


def real_services(
    args: argparse.Namespace, env: Mapping[str, str], aws_probe: AwsProbe = default_aws_probe
) -> RealServices:
    """Collect real mode's inputs, or refuse with every missing one named."""
    missing: list[str] = []
    credentials = _credentials(args, env, missing)
    secret_id = args.credentials_secret_id or env.get("CREDENTIALS_SECRET_ID")
    if not secret_id:
        missing.append("the credentials secret: --credentials-secret-id or CREDENTIALS_SECRET_ID")
    ring_text = args.token_secret_ids or env.get("TOKEN_SECRET_IDS") or ""
    ring = tuple(s.strip() for s in ring_text.split(",") if s.strip())
    if not ring:
        missing.append("the token ring secrets: --token-secret-ids or TOKEN_SECRET_IDS")
    region = args.region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if missing:
        raise UsageError("--real cannot start; missing " + "; ".join(missing))
    profile_region, has_credentials = aws_probe()
    region = region or profile_region
    if not region:
        missing.append("an AWS region: --region, AWS_REGION or a region in the AWS profile")
    if not has_credentials:
        missing.append("AWS credentials: set AWS_PROFILE (or AWS_ACCESS_KEY_ID/...) ")
    if missing or credentials is None or region is None:
        raise UsageError("--real cannot start; missing " + "; ".join(missing))
    return RealServices(
        credentials=credentials,
        credentials_secret_id=str(secret_id),
        token_secret_ids=ring,
        region=region,
        ringcx_url=args.ringcx_url or env.get("RINGCX_SERVER_URL"),
        ringcentral_url=args.ringcentral_url or env.get("RINGCENTRAL_SERVER_URL"),
    )


def _credentials(
    args: argparse.Namespace, env: Mapping[str, str], missing: list[str]
) -> Credentials | None:
    if args.credentials_file is not None:
        path: Path = args.credentials_file
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read --credentials-file {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise UsageError(f"--credentials-file {path} must hold a JSON object")
        values = {k: data.get(k) for k in CREDENTIAL_VARIABLES}
        absent = [f"{k} in {path}" for k, v in values.items() if not isinstance(v, str) or not v]
    else:
        values = {k: env.get(v) for k, v in CREDENTIAL_VARIABLES.items()}
        absent = [
            f"{CREDENTIAL_VARIABLES[k]} (or --credentials-file)" for k, v in values.items() if not v
        ]
    if absent:
        missing.append("RingCentral credentials: " + ", ".join(absent))
        return None
    return Credentials(str(values["client_id"]), str(values["client_secret"]), str(values["jwt"]))


def config_from_args(
    args: argparse.Namespace, env: Mapping[str, str], aws_probe: AwsProbe = default_aws_probe
) -> RunConfig:
    if args.smoke and args.real:
        raise UsageError("--smoke runs against the simulator; it cannot be combined with --real")
    for flag in ("token_lifetime", "tick_seconds"):
        value = getattr(args, flag)
        if value is not None and value <= 0:
            raise UsageError(f"--{flag.replace('_', '-')} must be positive")
    port = args.port if args.port is not None else (0 if args.smoke else DEFAULT_PORT)
    for flag, value in (("port", port), ("lambda_port", args.lambda_port)):
        if not 0 <= value <= 65535:
            raise UsageError(f"--{flag.replace('_', '-')} must be a port number (0-65535)")
    default_lifetime = SMOKE_TOKEN_LIFETIME if args.smoke else DEFAULT_TOKEN_LIFETIME
    default_tick = SMOKE_TICK_SECONDS if args.smoke else None
    template = args.template.resolve()
    return RunConfig(
        template=template,
        port=port,
        lambda_port=args.lambda_port,
        token_lifetime=args.token_lifetime or default_lifetime,
        tick_seconds=args.tick_seconds or default_tick,
        parameters=parse_params(args.param),
        log_dir=args.log_dir or template.parent / ".local" / "logs",
        show_logs=args.show_logs,
        real=real_services(args, env, aws_probe) if args.real else None,
        # --smoke is CI's check of the whole path, signatures included.
        require_sigv4=args.require_sigv4 or args.smoke,
        signing_key=SigningKey.from_env(env),
    )


# -- running -----------------------------------------------------------------


def _optional_signals(*names: str) -> list[signal.Signals]:
    return [getattr(signal, n) for n in names if hasattr(signal, n)]


def _interrupt(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    started = time.monotonic()
    args = build_parser().parse_args(argv)
    console = Console()
    try:
        config = config_from_args(args, os.environ)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Ctrl-C, a kill, or the terminal closing: each stops the run the same clean way.
    stop_signals = [signal.SIGINT, signal.SIGTERM, *_optional_signals("SIGHUP")]
    previous = {sig: signal.signal(sig, _interrupt) for sig in stop_signals}
    run = LocalRun(config, console)
    try:
        console.print("starting ringcx-broker locally ...")
        run.start()
        print_banner(run, console)
        first_query(run, console, started)
        if args.smoke:
            return 0 if run_smoke(run, console) else 1
        serve_until_interrupted(run, console)
        return 0
    except (TemplateError, PortInUse, StartupError) as exc:
        console.print(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        return 1 if args.smoke else 0
    finally:
        # A second Ctrl-C must not cut the shutdown short and orphan a child.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        console.close()
        run.stop()
        console.print("stopped; no process left running")
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def print_banner(run: LocalRun, console: Console) -> None:
    resolved, functions = run.resolved, run.functions
    assert resolved is not None and functions is not None
    api_url = run.api_url
    mode = "real services" if run.config.real else "emulated services, no AWS account needed"
    console.print(f"ringcx-broker local run ({mode}); template {resolved.path}")
    for api in resolved.apis.values():
        console.print(f"  local API        {api_url}  (stage {api.stage}{_auth_note(run, api)})")
    for route in resolved.routes:
        console.print(f"    {route.method:<6} {route.path:<24} -> {route.function}")
    lambda_url = functions[next(iter(resolved.functions))].container.spec.environment.get(
        "AWS_ENDPOINT_URL_LAMBDA", "-"
    )
    console.print(f"  Lambda API       {lambda_url}  (AWS_ENDPOINT_URL_LAMBDA)")
    for function in functions:
        spec = function.spec
        reserved = (
            f", reserved concurrency {spec.reserved_concurrency}"
            if spec.reserved_concurrency is not None
            else ""
        )
        console.print(
            f"  {spec.logical_id:<16} pid {function.container.pid}  "
            f"({spec.code_dir.name}/ + {len(spec.layer_dirs)} layer(s){reserved})"
        )
    for scheduler in run.schedulers:
        fast = " (--tick-seconds)" if run.config.tick_seconds else ""
        state = "" if scheduler.rule.enabled else " - disabled in the template, not running"
        console.print(
            f"  schedule         {scheduler.rule.function} every {scheduler.period:g} s{fast}; "
            f"template: {scheduler.rule.expression}{state}"
        )
    if run.simulator is not None and run.moto is not None:
        console.print(
            f"  simulator        {run.simulator.base_url}  (RingCentral + RingCX, "
            f"token lifetime {run.config.token_lifetime:g} s)"
        )
        console.print(f"  Secrets Manager  {run.moto.url}  (moto server)")
    else:
        console.print(f"  Secrets Manager  AWS, region {run.region} (your AWS profile)")
    if run.logs.directory is not None:
        console.print(f"  function logs    {run.logs.directory}/<Function>.log")
    result = run.bootstrap_result or {}
    console.print(
        f"bootstrap: exchange -> generation {result.get('generation')}, "
        f"expires {result.get('expiresAt')}, accounts {result.get('accountIds')}"
    )
    print_suggestions(console, run.api_url, run.region, run.verifier)
    console.print("Ctrl-C stops everything.")


def _auth_note(run: LocalRun, api: RestApi) -> str:
    if not api.default_authorizer:
        return ""
    if run.verifier is None:
        return f", {api.default_authorizer} not enforced: --require-sigv4 checks signatures"
    return f", {api.default_authorizer}: SigV4 verified for {SERVICE} in {run.region}"


def print_suggestions(
    console: Console, url: str, region: str, verifier: SigV4Verifier | None
) -> None:
    """Calls to try; none of them shows a token (no echo of what the proxy sends)."""
    console.print("try:")
    if verifier is None:
        console.print(f"  curl -s {url}{ACCOUNTS_PATH}")
        console.print(f"  curl -s {url}/health")
        return
    key = verifier.key
    if key.source == "environment":
        token = " and AWS_SESSION_TOKEN" if key.session_token else ""
        console.print(
            f"  (signed with your AWS_ACCESS_KEY_ID {key.access_key_id}, AWS_SECRET_ACCESS_KEY"
            f"{token}: the only key this run accepts)"
        )
    else:
        console.print(
            f"  export AWS_ACCESS_KEY_ID={key.access_key_id} "
            f"AWS_SECRET_ACCESS_KEY={key.secret_access_key} "
            f"AWS_SESSION_TOKEN={key.session_token}   # the local run's only key, fake"
        )
    client = f"{_python()} -m ringcx_broker_client"
    console.print(f"  {client} GET {ACCOUNTS_PATH} --url {url} --region {region}")
    console.print(f"  {client} health --url {url} --region {region}")
    console.print(
        f'  curl -s --aws-sigv4 "aws:amz:{region}:{SERVICE}" '
        '--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" '
        f'-H "x-amz-security-token: $AWS_SESSION_TOKEN" {url}{ACCOUNTS_PATH}'
    )
    console.print(f"  curl -s {url}/health        # unsigned: 403 Missing Authentication Token")


def _python() -> str:
    """This interpreter, relative when it is under the working directory (.venv/bin/python)."""
    here = Path.cwd()
    executable = Path(sys.executable)
    return str(executable.relative_to(here)) if executable.is_relative_to(here) else str(executable)


def first_query(run: LocalRun, console: Console, started: float) -> float | None:
    """Time from the command's start to the first successful proxied query."""
    try:
        status, _, body = signed_call(run, "GET", ACCOUNTS_PATH)
    except OSError as exc:
        console.print(f"first proxied query failed: {exc}")
        return None
    elapsed = time.monotonic() - started
    if status == 200:
        console.print(
            f"first proxied query: GET {ACCOUNTS_PATH} -> 200, {elapsed:.2f} s after start"
        )
        return elapsed
    console.print(f"first proxied query: GET {ACCOUNTS_PATH} -> {status}: {body[:200]!r}")
    return None


def serve_until_interrupted(run: LocalRun, console: Console) -> None:
    assert run.tracker is not None
    next_health = 0.0
    while True:
        if time.monotonic() >= next_health:
            next_health = time.monotonic() + HEALTH_INTERVAL
            response = run.probe("GET", "/health")
            run.tracker.observe_health(response.status, response.body)
        counters = run.counters()
        console.status(run.tracker.line(counters), key=run.tracker.key(counters))
        time.sleep(STATUS_INTERVAL)


__all__ = ["main"]
