"""How RingCX says "expired": its wording, a clock running ahead, and early revocation."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from ringcx_dev.simulator import SimConfig, Simulator

from .conftest import Configure
from .simclient import FakeClock, SimClient

ACCOUNTS = "/voice/api/v1/admin/accounts"


@pytest.mark.parametrize("message", ["Jwt is expired", "JWT is expired."])
def test_api_expired_message_is_the_configured_plain_text(
    client: SimClient, clock: FakeClock, configure: Configure, message: str
) -> None:
    # Given an endpoint that words the expiry its own way, and a token past its exp
    configure(expired_message=message)
    access, _ = client.login_pair()
    clock.advance(300)

    # When calling the API with it
    response = client.api("GET", ACCOUNTS, access)

    # Then the 401 carries exactly that plain text
    assert response.status == HTTPStatus.UNAUTHORIZED
    assert response.headers["Content-Type"] == "text/plain"
    assert response.data == message.encode()


def test_config_default_expired_message_is_ringcx_wording() -> None:
    # Given the default configuration
    # When reading the expired message
    # Then it is what most RingCX endpoints say
    assert SimConfig().expired_message == "Jwt is expired"


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [(0.0, HTTPStatus.OK), (269.9, HTTPStatus.OK), (270.0, HTTPStatus.UNAUTHORIZED)],
)
def test_api_clock_skew_rejects_token_that_long_before_exp(
    client: SimClient,
    sim: Simulator,
    clock: FakeClock,
    configure: Configure,
    elapsed: float,
    expected: HTTPStatus,
) -> None:
    # Given RingCX's clock running 30 s ahead and a 300 s token
    configure(clock_skew=30.0)
    access, _ = client.login_pair()

    # When the token is used `elapsed` seconds after it was issued
    clock.advance(elapsed)
    response = client.api("GET", ACCOUNTS, access)

    # Then it counts as expired from exp - 30 s on, with the usual plain-text answer
    assert response.status == expected
    if expected == HTTPStatus.UNAUTHORIZED:
        assert response.data == b"Jwt is expired"
        assert sim.state.expired_token_uses == 1


@pytest.mark.parametrize("skew", [300.0, 1000.0])
def test_api_clock_skew_at_least_lifetime_rejects_every_new_token(
    client: SimClient, configure: Configure, skew: float
) -> None:
    # Given a skew no shorter than the token lifetime
    configure(clock_skew=skew)

    # When a fresh token and a just-refreshed one are used at once
    access, refresh = client.login_pair()
    rotated = client.refresh(refresh).json()["accessToken"]
    statuses = [client.api("GET", ACCOUNTS, token).status for token in (access, rotated)]

    # Then RingCX rejects both as expired: nothing the client gets works
    assert statuses == [HTTPStatus.UNAUTHORIZED] * 2


@pytest.mark.parametrize("via", ["python", "http"])
def test_expire_access_tokens_revokes_issued_tokens_but_not_later_ones(
    client: SimClient, sim: Simulator, via: str
) -> None:
    # Given two access tokens that are far from their exp
    first, refresh = client.login_pair()
    second = client.refresh(refresh).json()["accessToken"]

    # When RingCX revokes every token issued so far
    if via == "python":
        expired = sim.expire_access_tokens()
    else:
        response = client.control("POST", "/_sim/expire-tokens")
        assert response.status == HTTPStatus.OK
        expired = response.json()["expired"]
    later, _ = client.login_pair()

    # Then both old tokens answer "expired" while a token issued afterwards works
    assert expired == 2
    for token in (first, second):
        response = client.api("GET", ACCOUNTS, token)
        assert (response.status, response.data) == (HTTPStatus.UNAUTHORIZED, b"Jwt is expired")
    assert client.api("GET", ACCOUNTS, later).status == HTTPStatus.OK
    assert sim.state.expired_token_uses == 2


def test_expire_access_tokens_counts_only_tokens_before_their_exp(
    client: SimClient, sim: Simulator, clock: FakeClock
) -> None:
    # Given one token already past its exp and one still live
    client.login_pair()
    clock.advance(300)
    live, _ = client.login_pair()

    # When revoking every token issued so far, twice
    first, again = sim.expire_access_tokens(), sim.expire_access_tokens()

    # Then only the live one was revoked, once, and it stays refused
    assert (first, again) == (1, 0)
    assert client.api("GET", ACCOUNTS, live).status == HTTPStatus.UNAUTHORIZED


def test_expire_access_tokens_with_expired_message_uses_that_wording(
    client: SimClient, sim: Simulator, configure: Configure
) -> None:
    # Given an endpoint that says "JWT is expired." and a revoked fresh token
    configure(expired_message="JWT is expired.")
    access, _ = client.login_pair()
    sim.expire_access_tokens()

    # When using the token long before its exp
    response = client.api("GET", ACCOUNTS, access)

    # Then the early rejection uses the same wording as a real expiry
    assert response.data == b"JWT is expired."
