"""What ``sam build`` produced: sizes, contents, and the built handlers running
in a fresh python3.13 with only the Lambda runtime's packages."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ringcx_dev.moto_server import MotoServer
from ringcx_dev.simulator import Simulator
from ringcx_dev.stack import LocalStack

from .conftest import EVENTS, FUNCTIONS, Build

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

pytestmark = pytest.mark.packaging

LAYER_LIMIT = 10 * 1024 * 1024
FUNCTION_LIMIT = 100 * 1024


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def test_layer_is_small_and_does_not_vendor_boto3(sam_build: Build) -> None:
    # Given the built layer
    names = {p.name for p in sam_build.layer_dir.iterdir()}
    # Then it holds our package and its two dependencies, never boto3/botocore
    assert {"ringcx_broker", "aws_lambda_powertools", "urllib3"} <= names
    assert not names & {"boto3", "botocore", "s3transfer"}
    assert tree_size(sam_build.layer_dir) < LAYER_LIMIT


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_code_is_under_100_kb_and_holds_only_its_handler(
    sam_build: Build, function: str
) -> None:
    built = sam_build.function_dir(function)
    assert (built / "app.py").is_file()
    assert not (built / "ringcx_broker").exists()  # the logic comes from the layer
    assert tree_size(built) < FUNCTION_LIMIT


def built_env(moto_server: MotoServer, stack: LocalStack, simulator: Simulator) -> dict[str, str]:
    return {**moto_server.env(), **stack.env(simulator.base_url, simulator.base_url)}


def event(name: str) -> object:
    return json.loads((EVENTS / name).read_text())


def test_built_exchange_function_logs_in_and_stores_tokens(
    sam_build: Build,
    moto_server: MotoServer,
    configured_stack: LocalStack,
    simulator: Simulator,
    secrets_client: SecretsManagerClient,
    rc_token: Callable[[], str],
) -> None:
    # Given the built ExchangeFunction, configured credentials, an empty ring
    posted = rc_token()
    api_event = event("exchange-api-json.json")
    assert isinstance(api_event, dict)
    import base64

    api_event["body"] = base64.b64encode(
        base64.b64decode(api_event["body"]).replace(b"RC_ACCESS_TOKEN", posted.encode())
    ).decode()

    # When it is invoked with the sample events, in a fresh python3.13 (the cooldown between
    # stored exchanges is off here: two logins follow each other on purpose)
    results, logs = sam_build.invoke(
        "ExchangeFunction",
        [event("exchange-direct-jwt.json"), api_event, event("exchange-api-malformed.json")],
        {**built_env(moto_server, configured_stack, simulator), "EXCHANGE_COOLDOWN_SECONDS": "0"},
    )

    # Then the stored-JWT login, the posted-token exchange and the 400 all behave
    direct, api, malformed = (r["result"] for r in results)
    assert direct["ok"] is True and direct["generation"] == 1
    assert api["statusCode"] == 200 and json.loads(api["body"])["generation"] == 2
    assert malformed["statusCode"] == 400
    assert simulator.counters()["rcx_exchange"]["ok"] == 2
    # and the handler's logs (Powertools JSON on stdout) hold no token
    ring_text = "".join(
        secrets_client.get_secret_value(SecretId=s)["SecretString"]
        for s in configured_stack.token_secret_ids
    )
    tokens = [t for t in json.dumps(ring_text).split('\\"') if len(t) > 30]
    assert tokens and '"level":"INFO"' in logs.replace(" ", "")
    assert all(t not in logs for t in [*tokens, posted])


def test_built_refresh_function_rotates_on_force_and_emits_metrics(
    sam_build: Build,
    moto_server: MotoServer,
    configured_stack: LocalStack,
    simulator: Simulator,
) -> None:
    # Given the built RefreshFunction and an empty ring with credentials
    env = built_env(moto_server, configured_stack, simulator)

    # When a scheduled tick (bootstrap), a forced refresh and a bad event arrive
    results, logs = sam_build.invoke(
        "RefreshFunction",
        [event("refresh-scheduled.json"), event("refresh-force.json"), {"staleGeneration": "x"}],
        {**env, "POWERTOOLS_METRICS_NAMESPACE": "RingcxBroker"},
    )

    # Then it bootstrapped, rotated, refused the bad event, and emitted EMF metrics
    tick, forced, bad = (r["result"] for r in results)
    assert tick["action"] == "relogin" and tick["generation"] == 1
    assert forced["action"] == "rotated" and forced["generation"] == 2
    assert bad == {"ok": False, "statusCode": 400, "message": bad["message"]}
    assert "TokenSecondsLeft" in logs and "_aws" in logs
    assert simulator.counters()["rcx_refresh"]["ok"] == 1


def test_built_proxy_function_serves_sample_events_with_the_stored_token(
    sam_build: Build,
    moto_server: MotoServer,
    configured_stack: LocalStack,
    simulator: Simulator,
) -> None:
    # Given a ring seeded by the built ExchangeFunction
    env = built_env(moto_server, configured_stack, simulator)
    seeded, _ = sam_build.invoke("ExchangeFunction", [{}], env)
    assert seeded[0]["result"]["ok"] is True

    # When the built ProxyFunction gets real-shaped API Gateway events
    names = [
        "proxy-get-accounts.json",
        "proxy-health.json",
        "proxy-traversal.json",
        "proxy-delete.json",
        "proxy-post-bad-base64.json",
        "proxy-direct-invoke.json",
    ]
    results, logs = sam_build.invoke(
        "ProxyFunction",
        [event(n) for n in names],
        {**env, "REFRESH_FUNCTION_NAME": "unused-while-the-token-is-fresh"},
    )

    # Then the query is forwarded with the broker's token, and bad input gets 4xx
    accounts, health, traversal, delete, bad_b64, direct = (r["result"] for r in results)
    assert accounts["statusCode"] == 200
    assert json.loads(accounts["body"])[0]["accountId"] == simulator.state.config.account_id
    assert health["statusCode"] == 200 and "secondsLeft" in json.loads(health["body"])
    assert (traversal["statusCode"], delete["statusCode"], bad_b64["statusCode"]) == (400, 405, 400)
    assert 400 <= direct.get("statusCode", 0) < 500
    assert simulator.counters()["api"]["ok"] == 1  # only the valid query reached RingCX
    assert "eyJ" not in logs + json.dumps(results)
