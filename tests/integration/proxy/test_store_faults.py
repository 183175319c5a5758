"""Secrets Manager failures, each with its defined outcome: the broker's boto3
clients reach moto through a FaultProxy that answers with AWS's own error wire
format, so botocore parses (and retries) them exactly as on AWS.

Readers (proxies, the refresher):
- throttling or a 5xx: a cached token keeps serving; a cold container answers 503
  and reads the ring again within a second;
- BatchGetSecretValue denied: the slots are read one by one;
- one slot denied or missing, or holding garbage: that slot is skipped.

Writers (the refresher, the exchange):
- throttling or a 5xx: retried; then the rotated token is kept in memory and
  stored first on the next run;
- LimitExceededException, AccessDeniedException, ResourceNotFoundException on a
  slot: the token is stored as generation g+1 in the next slot;
- a slot holding garbage: overwritten.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from http import HTTPStatus
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.config import Config

from ringcx_broker.errors import TokenPersistFailed
from ringcx_broker.refresher import Action, Kind, RefreshRequest
from ringcx_broker.ring import TokenRing
from ringcx_broker.tokens import StoredToken
from ringcx_dev.faultproxy import AwsFault, FaultProxy
from ringcx_dev.moto_server import MotoServer
from ringcx_dev.simulator import Simulator

from ..conftest import Containers
from .conftest import Clocks, Proxy, ProxyFactory, api_calls
from .test_proxy_tokens import accounts, body_of

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

pytestmark = pytest.mark.integration

# Two attempts with no backoff to speak of: the SDK retry is AWS's behaviour, the test
# is about what the broker does when the retries are spent.
FAST_RETRY = Config(retries={"mode": "standard", "total_max_attempts": 2})
FORCE = RefreshRequest(Kind.FORCE)
FaultKind = Callable[..., AwsFault]  # AwsFault.throttling and its siblings


@pytest.fixture
def store(moto_server: MotoServer) -> Iterator[FaultProxy]:
    with FaultProxy(moto_server.url) as proxy:
        yield proxy


@pytest.fixture
def faulty_client(store: FaultProxy) -> SecretsManagerClient:
    return boto3.client("secretsmanager", endpoint_url=store.url, config=FAST_RETRY)


@pytest.fixture
def faulty(containers: Containers, faulty_client: SecretsManagerClient) -> Containers:
    """The broker's containers, reaching Secrets Manager through the fault proxy."""
    return Containers(containers.settings, faulty_client)


@pytest.fixture
def faulty_proxy(proxy_factory: ProxyFactory, faulty_client: SecretsManagerClient) -> Proxy:
    return proxy_factory(client=faulty_client)


def newest(containers: Containers) -> StoredToken:
    token = containers.ring().newest()
    assert token is not None
    return token


# -- readers ---------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [AwsFault.throttling, AwsFault.internal_error])
def test_store_read_outage_cold_proxy_is_503_then_serves_within_a_second(
    faulty_proxy: Proxy,
    seeded: StoredToken,
    store: FaultProxy,
    simulator: Simulator,
    clocks: Clocks,
    fault: FaultKind,
) -> None:
    # Given a cold container and Secrets Manager failing every attempt of its ring read
    store.inject("BatchGetSecretValue", fault(count=2))

    # When a request arrives
    first = accounts(faulty_proxy)

    # Then it is a clean 503 naming the store, and RingCX saw nothing
    assert first["statusCode"] == HTTPStatus.SERVICE_UNAVAILABLE
    assert "could not read the token ring" in body_of(first)["message"]
    assert api_calls(simulator) == 0

    # When the store is back and a request comes a second later
    clocks.broker.offset += 1.0
    second = accounts(faulty_proxy)

    # Then the container read the ring again and served it
    assert second["statusCode"] == HTTPStatus.OK
    assert store.calls("BatchGetSecretValue") == 3


def test_store_single_throttle_is_absorbed_by_the_sdk_retry(
    faulty_proxy: Proxy, seeded: StoredToken, store: FaultProxy
) -> None:
    # Given one throttled ring read
    store.inject("BatchGetSecretValue", AwsFault.throttling())

    # When a cold request arrives
    # Then botocore's own retry absorbs it, as it does on AWS
    assert accounts(faulty_proxy)["statusCode"] == HTTPStatus.OK
    assert store.calls("BatchGetSecretValue") == 2


def test_store_read_outage_warm_proxy_keeps_serving_its_cache(
    faulty_proxy: Proxy, seeded: StoredToken, store: FaultProxy, clocks: Clocks
) -> None:
    # Given a warm container whose token reached the leeway, and a ring that cannot be read
    assert accounts(faulty_proxy)["statusCode"] == HTTPStatus.OK
    store.inject("BatchGetSecretValue", AwsFault.internal_error(count=50))
    store.inject("GetSecretValue", AwsFault.internal_error(count=50))
    clocks.set_both(seeded.lifetime * 0.95)

    # When a request arrives
    # Then the cached, still valid token serves it
    assert accounts(faulty_proxy)["statusCode"] == HTTPStatus.OK


def test_store_batch_denied_falls_back_to_per_slot_reads(
    faulty_proxy: Proxy, seeded: StoredToken, store: FaultProxy, faulty: Containers
) -> None:
    # Given a policy without BatchGetSecretValue
    store.inject("BatchGetSecretValue", AwsFault.access_denied(count=10))

    # When a cold request arrives
    response = accounts(faulty_proxy)

    # Then each slot is read on its own (once), and the request is served
    assert response["statusCode"] == HTTPStatus.OK
    assert store.calls("BatchGetSecretValue") == 1
    assert store.calls("GetSecretValue") == len(faulty.settings.token_secret_ids)


@pytest.mark.parametrize("fault", [AwsFault.access_denied, AwsFault.not_found])
def test_store_one_unreadable_slot_is_skipped_by_readers(
    faulty: Containers, seeded: StoredToken, store: FaultProxy, fault: FaultKind
) -> None:
    # Given generation 1, and the batch reply listing another slot under Errors
    other = faulty.settings.token_secret_ids[3]
    store.inject("BatchGetSecretValue", fault(), secret_id=other)

    # When the ring is read
    # Then the readable slots still give the newest generation
    assert newest(faulty).generation == seeded.generation


def test_store_garbage_slot_is_skipped_then_overwritten(
    faulty: Containers,
    seeded: StoredToken,
    secrets_client: SecretsManagerClient,
    simulator: Simulator,
) -> None:
    # Given garbage in the slot the next generation will use
    ring = faulty.ring()
    secrets_client.put_secret_value(SecretId=ring.slot_of(2), SecretString="{not json")

    # When readers read and the refresher rotates
    assert newest(faulty).generation == 1
    result = faulty.refresher().run(FORCE)

    # Then the garbage was skipped, then replaced by generation 2
    assert result.action is Action.ROTATED
    assert newest(faulty).generation == 2 == result.token.generation


# -- writers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault", [AwsFault.limit_exceeded, AwsFault.access_denied, AwsFault.not_found]
)
def test_store_unwritable_slot_rotation_lands_in_the_next_slot(
    faulty: Containers, seeded: StoredToken, store: FaultProxy, fault: FaultKind
) -> None:
    # Given generation 2's slot refusing writes for good (versions quota, policy, deleted)
    ring: TokenRing = faulty.ring()
    store.inject("PutSecretValue", fault(count=99), secret_id=ring.slot_of(2))

    # When the refresher rotates
    result = faulty.refresher().run(FORCE)

    # Then the new refresh token is stored as generation 3, which every reader finds
    assert result.token.generation == 3
    assert newest(faulty) == result.token


@pytest.mark.parametrize("fault", [AwsFault.throttling, AwsFault.service_unavailable])
def test_store_write_outage_keeps_the_rotated_token_and_stores_it_first_next_run(
    faulty: Containers,
    seeded: StoredToken,
    store: FaultProxy,
    simulator: Simulator,
    fault: FaultKind,
) -> None:
    # Given Secrets Manager refusing every write attempt of one run
    refresher = faulty.refresher()
    store.inject("PutSecretValue", fault(count=8))

    # When the refresher rotates, the new refresh token cannot be stored
    with pytest.raises(TokenPersistFailed):
        refresher.run(FORCE)
    assert newest(faulty).generation == 1
    rotations = simulator.counters()["protocol"]["refresh_rotations"]

    # Then the next run, with the store back, stores it before anything else: no second
    # rotation at RingCX, and the stored refresh token is the live one
    result = refresher.run(RefreshRequest(Kind.TICK))
    assert result.token.generation == 2
    assert simulator.counters()["protocol"]["refresh_rotations"] == rotations
    assert result.token.refresh_token in simulator.state.live_refresh_tokens
