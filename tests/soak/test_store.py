"""Secrets Manager as the soak sees it: the versions written (and when), fault
windows that end without disturbing other faults, the SDK's backoff on the
virtual clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import botocore.endpoint
import pytest
from botocore.exceptions import ClientError

from ringcx_broker.tokens import AccountInfo, StoredToken
from ringcx_dev.faultproxy import AwsFault, FaultProxy
from ringcx_dev.moto_server import MotoServer
from ringcx_dev.soak.store import StoreFaults, StoreWatch, sdk_backoff_on
from ringcx_dev.stack import LocalStack, create_stack
from ringcx_dev.vclock import VirtualClock

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

PUT = "PutSecretValue"
SLOTS = tuple(f"slot-{i}" for i in range(6))


def token(generation: int) -> StoredToken:
    return StoredToken(
        generation, "access", "refresh", "Bearer", 0.0, 300.0, 0.0, "relogin", AccountInfo()
    )


@pytest.fixture
def proxy(moto_server: MotoServer) -> Iterator[FaultProxy]:
    with FaultProxy(moto_server.url) as proxy:
        yield proxy


@pytest.fixture
def ring(secrets_client: SecretsManagerClient) -> LocalStack:
    return create_stack(secrets_client)


@pytest.fixture
def client(proxy: FaultProxy) -> SecretsManagerClient:
    return boto3.client("secretsmanager", endpoint_url=proxy.url)


# -- StoreFaults (no HTTP) -------------------------------------------------------------


def test_store_faults_closing_a_window_keeps_the_other_faults_queued() -> None:
    # Given a slot window, a burst and a second window queued on one operation
    proxy = FaultProxy("http://127.0.0.1:9")
    faults = StoreFaults(proxy)
    faults.open("slot", PUT, AwsFault.limit_exceeded(), secret_id="slot-1")
    faults.burst(PUT, AwsFault.throttling(3))
    faults.open("outage", PUT, AwsFault.service_unavailable())

    # When the second window ends, then the first
    faults.close("outage")
    after_outage = [(q["code"], q["secret_id"]) for q in proxy.state.queued()[PUT]]
    faults.close("slot")

    # Then each close took back its own fault only, in order
    assert after_outage == [("LimitExceededException", "slot-1"), ("ThrottlingException", None)]
    assert [(q["code"], q["left"]) for q in proxy.state.queued()[PUT]] == [
        ("ThrottlingException", 3)
    ]


# -- StoreWatch ------------------------------------------------------------------------


@pytest.mark.integration
def test_store_watch_records_only_versions_that_landed_with_their_virtual_time(
    proxy: FaultProxy, ring: LocalStack, client: SecretsManagerClient
) -> None:
    # Given a watched client on a virtual clock, and a write that the store refuses
    clock = VirtualClock(start=5000.0)
    watch = StoreWatch(clock, lambda: "refresher#1", ring.token_secret_ids)
    watch.attach(client)
    slot = ring.token_secret_ids[1]
    proxy.inject(PUT, AwsFault.access_denied())

    # When the refused write and then a good one are made, a minute apart
    with pytest.raises(ClientError):
        client.put_secret_value(SecretId=slot, SecretString=token(1).to_secret_string())
    clock.advance(60.0)
    client.put_secret_value(SecretId=slot, SecretString=token(1).to_secret_string())

    # Then one version is recorded, at t = 5060, as the ring's newest generation
    assert [(w.at, w.slot, w.actor) for w in watch.writes] == [(5060.0, slot, "refresher#1")]
    newest = watch.newest()
    assert newest is not None and newest.token == token(1)
    assert watch.refresh_tokens == {"refresh"}


@pytest.mark.parametrize(
    ("slot_index", "text"),
    [(1, "{not json"), (1, "{}"), (2, token(1).to_secret_string())],  # the last: wrong slot
    ids=["garbage", "empty", "wrong-slot"],
)
def test_store_watch_value_that_is_no_readable_token_holds_none(slot_index: int, text: str) -> None:
    # Given a watch whose slot 1 holds generation 1
    watch = StoreWatch(VirtualClock(), lambda: "soak", SLOTS)
    watch.record(SLOTS[1], token(1).to_secret_string(), "refresher#1")

    # When a value readers would skip lands in a slot
    watch.record(SLOTS[slot_index], text, "soak")

    # Then that write holds no token, and it names what held the newest before it
    write = watch.writes[-1]
    assert write.token is None
    assert write.replaced is watch.writes[0]


# -- the SDK's backoff -----------------------------------------------------------------


@pytest.mark.integration
def test_sdk_backoff_waits_on_the_virtual_clock_and_is_put_back(
    proxy: FaultProxy, ring: LocalStack, client: SecretsManagerClient
) -> None:
    # Given two throttled reads ahead, and botocore's default retries
    proxy.inject("GetSecretValue", AwsFault.throttling(2))
    clock = VirtualClock(start=0.0)
    saved = vars(botocore.endpoint)["time"]

    # When a read is made with the backoff on the virtual clock
    with sdk_backoff_on(clock.sleep):
        client.get_secret_value(SecretId=ring.token_secret_ids[0])

    # Then the SDK retried twice, the clock moved by its backoff, and time.sleep is back
    assert proxy.calls("GetSecretValue") == 3
    assert clock() > 0.0
    assert vars(botocore.endpoint)["time"] is saved
