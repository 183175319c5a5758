"""Start and stop the whole local stack in the right order.

Why one object: start-up has an order (ports first, so a busy port fails in
milliseconds; then the emulators, the secrets, the template resolved against
them, the containers, the bootstrap exchange, and only then the API and the
schedule), and shutdown must undo exactly what started, even after a partial
start, so that no child process outlives the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ringcx_dev.local import api as local_api
from ringcx_dev.local import lambda_api
from ringcx_dev.local.apigw import HttpRequest, HttpResponse
from ringcx_dev.local.console import Console, FunctionLogs, describe
from ringcx_dev.local.functions import LocalFunctions, missing_requirements
from ringcx_dev.local.httpserver import LoopbackServer
from ringcx_dev.local.schedule import Scheduler
from ringcx_dev.local.sigv4 import SigningKey, SigV4Verifier
from ringcx_dev.local.status import StatusTracker
from ringcx_dev.local.template import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_REGION,
    DEFAULT_STACK_NAME,
    LocalContext,
    ResolvedTemplate,
    Template,
    TemplateError,
)
from ringcx_dev.local.worker import Invocation

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from ringcx_dev.moto_server import MotoServer
    from ringcx_dev.simulator import Simulator

# The contract (docs/contract.md) fixes these logical IDs; the bootstrap exchange uses it.
EXCHANGE_FUNCTION: Final = "ExchangeFunction"
# Contract variables (docs/contract.md) the local run points at its emulators.
UPSTREAM_VARIABLES: Final = ("RINGCX_SERVER_URL", "RINGCENTRAL_SERVER_URL")
TICK_VARIABLE: Final = "REFRESH_INTERVAL_SECONDS"
FRACTION_VARIABLE: Final = "REFRESH_FRACTION"
# What a child may inherit from the operator's environment in each mode.
_BASE_VARIABLES: Final = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR")
_AWS_PASSTHROUGH: Final = (
    "HOME",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CA_BUNDLE",
    "AWS_EC2_METADATA_DISABLED",
    # An operator's own endpoint choice (a VPC endpoint, a stand-in) holds for the functions too.
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
)


class StartupError(Exception):
    """The stack could not start; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Credentials:
    client_id: str
    client_secret: str = field(repr=False)
    jwt: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class RealServices:
    """Real mode: real RingCentral/RingCX hosts and real Secrets Manager."""

    credentials: Credentials
    credentials_secret_id: str
    token_secret_ids: tuple[str, ...]
    region: str
    ringcx_url: str | None = None
    ringcentral_url: str | None = None


@dataclass(frozen=True, slots=True)
class RunConfig:
    template: Path
    port: int = 3000
    lambda_port: int = 0
    token_lifetime: float = 300.0
    tick_seconds: float | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    show_logs: bool = False
    real: RealServices | None = None
    stack_name: str = DEFAULT_STACK_NAME
    python: str = sys.executable
    # Verify SigV4 on the AWS_IAM routes, with this key (None: SigningKey.from_env).
    require_sigv4: bool = False
    signing_key: SigningKey | None = field(default=None, repr=False)


class LocalRun:
    """Everything of one local run; ``start`` then ``stop`` (always)."""

    def __init__(self, config: RunConfig, console: Console | None = None) -> None:
        self.config = config
        self.console = console or Console()
        self.region = config.real.region if config.real else DEFAULT_REGION
        self.simulator: Simulator | None = None
        self.moto: MotoServer | None = None
        self.resolved: ResolvedTemplate | None = None
        self.functions: LocalFunctions | None = None
        self.api: local_api.LocalApi | None = None
        self.api_server: LoopbackServer | None = None
        self.lambda_server: LoopbackServer | None = None
        self.schedulers: list[Scheduler] = []
        self.tracker: StatusTracker | None = None
        self.bootstrap_result: dict[str, Any] | None = None
        self.verifier: SigV4Verifier | None = None
        self.logs = FunctionLogs(config.log_dir, self.console if config.show_logs else None)
        self._api_handler: Callable[[HttpRequest], HttpResponse] | None = None
        self._lambda_handler: Callable[[HttpRequest], HttpResponse] | None = None

    # -- start ---------------------------------------------------------------

    def start(self) -> None:
        """Start everything; on failure, stop what started and raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        template = Template.load(self.config.template)
        layout = template.secret_layout()
        template.check_parameters(self.config.parameters)
        # Bind both ports before anything slow, so a busy port fails at once.
        self.api_server = LoopbackServer(
            "127.0.0.1", self.config.port, self._serve_api, flag="--port", label="local API"
        )
        self.lambda_server = LoopbackServer(
            "127.0.0.1",
            self.config.lambda_port,
            self._serve_lambda,
            flag="--lambda-port",
            label="Lambda API",
        )
        overrides: dict[str, str] = {}
        if self.config.real is None:
            physical, client = self._start_emulators(layout.credentials, layout.ring)
            base_url = self._simulator().base_url
            overrides.update(dict.fromkeys(UPSTREAM_VARIABLES, base_url))
            extra_env = self._emulated_aws_env()
        else:
            physical, client = self._real_secrets(layout.credentials, layout.ring)
            real = self.config.real
            urls = (real.ringcx_url, real.ringcentral_url)
            for name, value in zip(UPSTREAM_VARIABLES, urls, strict=True):
                if value:
                    overrides[name] = value
            extra_env = self._real_aws_env()
        if self.config.tick_seconds is not None:
            # A compressed clock: the functions judge their timing by the period they
            # are told, so tell them the one the local schedule really fires at.
            overrides[TICK_VARIABLE] = _number_text(self.config.tick_seconds)
        self.resolved = template.resolve(
            LocalContext(
                stack_name=self.config.stack_name,
                region=self.region,
                account_id=DEFAULT_ACCOUNT_ID,
                parameters=self.config.parameters,
                physical_ids=physical,
            )
        )
        self._check_layers(self.resolved)
        self._check_timing(self.resolved)
        self.functions = LocalFunctions(
            self.resolved,
            base_env={k: os.environ[k] for k in _BASE_VARIABLES if k in os.environ},
            extra_env={**extra_env, "AWS_ENDPOINT_URL_LAMBDA": self.lambda_server.url},
            overrides=overrides,
            log_sink=self.logs,
            python=self.config.python,
        )
        self._lambda_handler = lambda_api.LambdaApi(self.functions, self.region, DEFAULT_ACCOUNT_ID)
        refresher = next((s.function for s in self.resolved.schedules), None)
        self.tracker = StatusTracker(refresher, EXCHANGE_FUNCTION)
        self.functions.add_listener(self.tracker.observe)
        self.lambda_server.start()
        self._warm(self.functions)
        self._bootstrap(client, self.resolved)
        if self.config.require_sigv4:
            self.verifier = SigV4Verifier(
                self.config.signing_key or SigningKey.from_env(os.environ),
                self.region,
                account_id=DEFAULT_ACCOUNT_ID,
            )
        self.api = local_api.LocalApi(
            self.resolved, self.functions, access_log=self.console.print, verifier=self.verifier
        )
        self._api_handler = self.api
        self.api_server.start()
        self._start_schedules(self.resolved, self.functions)

    def _start_emulators(
        self, credentials: str, ring: tuple[str, ...]
    ) -> tuple[dict[str, str], SecretsManagerClient]:
        # Imported here: real mode needs neither moto nor the simulator.
        import boto3

        from ringcx_dev.moto_server import FAKE_AWS_ENV, MotoServer
        from ringcx_dev.simulator import SimConfig, Simulator
        from ringcx_dev.stack import create_stack

        self.simulator = Simulator(SimConfig(token_lifetime=self.config.token_lifetime))
        self.simulator.start("127.0.0.1", 0)
        self.moto = MotoServer()
        self.moto.start()
        client = boto3.client(
            "secretsmanager",
            endpoint_url=self.moto.url,
            region_name=self.region,
            aws_access_key_id=FAKE_AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=FAKE_AWS_ENV["AWS_SESSION_TOKEN"],
        )
        stack = create_stack(client, prefix=self.config.stack_name, ring_size=len(ring))
        physical = {credentials: stack.credentials_secret_id}
        physical.update(zip(ring, stack.token_secret_ids, strict=True))
        return physical, client

    def _real_secrets(
        self, credentials: str, ring: tuple[str, ...]
    ) -> tuple[dict[str, str], SecretsManagerClient]:
        import boto3

        real = self.config.real
        assert real is not None
        if len(real.token_secret_ids) != len(ring):
            raise StartupError(
                f"the template's token ring has {len(ring)} secrets ({', '.join(ring)}) but "
                f"--token-secret-ids / TOKEN_SECRET_IDS names {len(real.token_secret_ids)}"
            )
        physical = {credentials: real.credentials_secret_id}
        physical.update(zip(ring, real.token_secret_ids, strict=True))
        return physical, boto3.client("secretsmanager", region_name=real.region)

    def _emulated_aws_env(self) -> dict[str, str]:
        from ringcx_dev.moto_server import FAKE_AWS_ENV

        assert self.moto is not None
        return {
            **FAKE_AWS_ENV,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.moto.url,
            # The operator's own AWS config must not leak into an emulated run.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def _real_aws_env(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in _AWS_PASSTHROUGH if k in os.environ}
        return {**env, "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}

    def _check_layers(self, resolved: ResolvedTemplate) -> None:
        layers = {d for spec in resolved.functions.values() for d in spec.layer_dirs}
        missing = sorted({m for d in layers for m in missing_requirements(d)})
        if missing:
            raise StartupError(
                f"the layer needs packages this Python lacks: {', '.join(missing)}; "
                f"install them with: {sys.executable} -m pip install {' '.join(missing)}"
            )
        wanted = {spec.runtime for spec in resolved.functions.values()}
        here = f"python{sys.version_info.major}.{sys.version_info.minor}"
        if wanted - {here}:
            self.console.print(
                f"warning: the template asks for {', '.join(sorted(wanted))}; this run uses {here}"
            )

    def _check_timing(self, resolved: ResolvedTemplate) -> None:
        """Design 4.3: refreshing at a fraction f of the life L needs ticks T <= f*L/2."""
        if self.config.real is not None:
            return
        lifetime = self.config.token_lifetime
        for rule in resolved.schedules:
            period = self.config.tick_seconds or rule.period_seconds
            text = resolved.functions[rule.function].environment.get(FRACTION_VARIABLE, "")
            try:
                fraction = float(text)
            except ValueError:
                continue
            if fraction < 2 * period / lifetime:
                self.console.print(
                    f"warning: ticks every {period:g} s are too slow for {lifetime:g} s tokens "
                    f"({FRACTION_VARIABLE} {fraction:g} < 2T/L = {2 * period / lifetime:.2f}); "
                    f"pass --tick-seconds {fraction * lifetime / 2:g} or less"
                )

    def _warm(self, functions: LocalFunctions) -> None:
        for name, failure in functions.warm_all().items():
            if failure is not None:
                self.console.print(f"warning: {name} failed to start: {failure.reason}")

    def _bootstrap(self, client: SecretsManagerClient, resolved: ResolvedTemplate) -> None:
        from ringcx_dev.stack import put_credentials

        spec = resolved.functions.get(EXCHANGE_FUNCTION)
        if spec is None:
            raise StartupError(f"the template has no {EXCHANGE_FUNCTION} to bootstrap the token")
        secret_id = spec.environment.get("CREDENTIALS_SECRET_ID")
        if not secret_id:
            raise StartupError(f"{EXCHANGE_FUNCTION} has no CREDENTIALS_SECRET_ID variable")
        credentials = self._credentials()
        put_credentials(
            client, secret_id, credentials.client_id, credentials.client_secret, credentials.jwt
        )
        assert self.functions is not None
        outcome = self.functions[EXCHANGE_FUNCTION].invoke("{}")
        result = outcome.result() if outcome.ok else None
        if not isinstance(result, dict) or result.get("ok") is not True:
            raise StartupError(f"the bootstrap exchange failed: {_failure(outcome)}")
        self.bootstrap_result = result

    def _credentials(self) -> Credentials:
        if self.config.real is not None:
            return self.config.real.credentials
        config = self._simulator().state.config
        return Credentials(config.client_id, config.client_secret, config.jwt)

    def _start_schedules(self, resolved: ResolvedTemplate, functions: LocalFunctions) -> None:
        for rule in resolved.schedules:
            scheduler = Scheduler(
                rule,
                functions[rule.function],
                stack_name=self.config.stack_name,
                region=self.region,
                account_id=DEFAULT_ACCOUNT_ID,
                period=self.config.tick_seconds,
                on_tick=self._on_tick(rule.function),
            )
            scheduler.start()
            self.schedulers.append(scheduler)

    def _on_tick(self, function: str) -> Callable[[int, Invocation], None]:
        """Report ticks that matter: the first, failures, and new generations."""
        last: dict[str, object] = {}

        def report(tick: int, outcome: Invocation) -> None:
            result = outcome.result() if outcome.ok else None
            generation = result.get("generation") if isinstance(result, dict) else None
            failed = not isinstance(result, dict) or result.get("ok") is not True
            if tick == 1 or failed or generation != last.get("generation"):
                self.console.print(f"schedule: tick {tick} -> {function}: {describe(outcome)}")
            last["generation"] = generation

        return report

    # -- serving -------------------------------------------------------------

    def _serve_api(self, request: HttpRequest) -> HttpResponse:
        handler = self._api_handler
        if handler is None:
            return HttpResponse(HTTPStatus.SERVICE_UNAVAILABLE, [], b"starting")
        return handler(request)

    def _serve_lambda(self, request: HttpRequest) -> HttpResponse:
        handler = self._lambda_handler
        if handler is None:
            return HttpResponse(HTTPStatus.SERVICE_UNAVAILABLE, [], b"starting")
        return handler(request)

    def probe(self, method: str, target: str) -> HttpResponse:
        """A request through the local API in-process, not access-logged and not
        SigV4-checked: the runner's own status probes."""
        assert self.api is not None
        return self.api.handle(HttpRequest.from_target(method, target), log=False, verify=False)

    def counters(self) -> dict[str, Any] | None:
        return self.simulator.counters() if self.simulator is not None else None

    @property
    def api_url(self) -> str:
        assert self.api_server is not None
        return self.api_server.url

    def _simulator(self) -> Simulator:
        assert self.simulator is not None
        return self.simulator

    # -- stop ----------------------------------------------------------------

    def stop(self) -> None:
        """Stop whatever started, in reverse order; safe to call twice."""
        for scheduler in self.schedulers:
            scheduler.stop()
        self.schedulers.clear()
        for server in (self.api_server, self.lambda_server):
            if server is not None:
                with contextlib.suppress(Exception):
                    server.stop()
        self.api_server = self.lambda_server = None
        if self.api is not None:
            self.api.close()
        if self.functions is not None:
            self.functions.stop_all()
        if self.moto is not None:
            with contextlib.suppress(Exception):
                self.moto.stop()
            self.moto = None
        if self.simulator is not None:
            with contextlib.suppress(Exception):
                self.simulator.stop()
            self.simulator = None
        self.logs.close()


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def _failure(outcome: Invocation) -> str:
    if not outcome.ok:
        return outcome.reason
    return f"it returned {json.dumps(outcome.result())[:300]}"


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


__all__ = ["LocalRun", "RealServices", "RunConfig", "StartupError", "TemplateError"]
