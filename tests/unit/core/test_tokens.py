"""tokens.py: token objects that know their expiry and never show their secrets."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from ringcx_broker.errors import UpstreamUnavailable
from ringcx_broker.tokens import AccountInfo, MalformedSlot, StoredToken, TokenGrant
from tests.unit.core.fakes import AGENT, LIFETIME, T0, login_reply, make_grant, make_jwt, make_token

SECRET_AGENT_FIELDS = {
    "password": "hunter2",
    "accessToken": "agent-access-secret",
    "rcAccessToken": "agent-rc-secret",
    "ssoToken": "agent-sso-secret",
    "pin": "1234",
}

# -- AccountInfo ------------------------------------------------------------------


def test_account_info_from_reply_strips_secrets_and_keeps_agent_fields() -> None:
    # Given a RingCX login reply whose agent entries carry extra, secret-ish fields
    reply = login_reply(make_jwt(), "rt-1", mainAccountId=15300001)
    reply["agentDetails"] = [{**AGENT, **SECRET_AGENT_FIELDS}]

    # When the non-secret account part is extracted
    account = AccountInfo.from_reply(reply)

    # Then only the whitelisted agent fields survive, and ids are strings
    assert account.agents == (AGENT,)
    assert account.account_ids == ("15300002",)
    assert account.main_account_id == "15300001"
    assert account.admin_id == "42"
    rendered = json.dumps(account.to_json())
    for secret in [*SECRET_AGENT_FIELDS.values(), reply["accessToken"], "rt-1"]:
        assert secret not in rendered


def test_account_info_from_reply_several_agents_dedupes_account_ids_in_order() -> None:
    # Given agents in two sub-accounts, one repeated, one without an account id
    reply = {
        "agentDetails": [
            {"agentId": "1", "accountId": "B"},
            {"agentId": "2", "accountId": "A"},
            {"agentId": "3", "accountId": "B"},
            {"agentId": "4"},
            {"agentId": "5", "accountId": 77},
        ]
    }

    # When the account part is extracted
    account = AccountInfo.from_reply(reply)

    # Then each sub-account appears once, in first-seen order, as a string
    assert account.account_ids == ("B", "A", "77")
    assert len(account.agents) == 5


@pytest.mark.parametrize(
    "agent_details",
    [None, "agents", {"agentId": "1"}, 5, ["not-an-agent", 3, None]],
    ids=["missing", "string", "object", "number", "list-of-junk"],
)
def test_account_info_from_reply_without_agent_list_gives_no_agents(agent_details: Any) -> None:
    # Given a reply whose agentDetails is missing or not a list of objects
    reply = {} if agent_details is None else {"agentDetails": agent_details}

    # When the account part is extracted
    account = AccountInfo.from_reply(reply)

    # Then there are no agents and no account ids, and nothing crashes
    assert account.agents == ()
    assert account.account_ids == ()
    assert account.main_account_id is None
    assert account.admin_id is None


def test_account_info_json_round_trip_is_lossless() -> None:
    # Given an account extracted from a full reply
    account = AccountInfo.from_reply(login_reply(make_jwt(), mainAccountId="M1"))

    # When it goes through its JSON form and back
    again = AccountInfo.from_json(json.loads(json.dumps(account.to_json())))

    # Then it is unchanged
    assert again == account


# -- TokenGrant -------------------------------------------------------------------


def test_token_grant_from_reply_reads_tokens_and_timing() -> None:
    # Given a RingCX reply with a 300 s JWT and a refresh token
    access = make_jwt(iat=T0, exp=T0 + LIFETIME)

    # When it is validated
    grant = TokenGrant.from_reply(login_reply(access, "rt-1"), T0 + 2)

    # Then the grant carries both tokens and the JWT's own timing
    assert grant.access_token == access
    assert grant.refresh_token == "rt-1"
    assert grant.token_type == "Bearer"
    assert (grant.issued_at, grant.expires_at) == (T0, T0 + LIFETIME)
    assert grant.account.account_ids == ("15300002",)


@pytest.mark.parametrize(
    "access",
    [None, "", 12345, ["token"], {"jwt": "x"}],
    ids=["missing", "empty", "number", "list", "object"],
)
def test_token_grant_from_reply_without_usable_access_token_raises_upstream_unavailable(
    access: Any,
) -> None:
    # Given a reply without a usable accessToken
    reply = login_reply("placeholder", "rt-secret-1")
    if access is None:
        del reply["accessToken"]
    else:
        reply["accessToken"] = access

    # When it is validated
    with pytest.raises(UpstreamUnavailable) as caught:
        TokenGrant.from_reply(reply, T0)

    # Then the error names the missing field, and never echoes the reply
    assert "accessToken" in caught.value.message
    assert "rt-secret-1" not in caught.value.message


@pytest.mark.parametrize(
    "refresh", [None, "", 42, ["rt"]], ids=["missing", "empty", "number", "list"]
)
def test_token_grant_from_reply_without_usable_refresh_token_has_none(refresh: Any) -> None:
    # Given a reply whose refreshToken is missing or unusable
    reply = login_reply(make_jwt(), None)
    if refresh is not None:
        reply["refreshToken"] = refresh

    # When it is validated
    grant = TokenGrant.from_reply(reply, T0)

    # Then the grant has no refresh token (rather than a bogus one)
    assert grant.refresh_token is None


@pytest.mark.parametrize(
    ("token_type", "expected"), [(None, "Bearer"), ("", "Bearer"), ("bearer", "bearer")]
)
def test_token_grant_from_reply_token_type_defaults_to_bearer(
    token_type: str | None, expected: str
) -> None:
    # Given a reply with a missing, empty or explicit tokenType
    reply = login_reply(make_jwt())
    reply["tokenType"] = token_type

    # When it is validated
    grant = TokenGrant.from_reply(reply, T0)

    # Then the type is kept, or Bearer when absent
    assert grant.token_type == expected


def test_token_grant_from_reply_opaque_access_token_lives_300_seconds_from_now() -> None:
    # Given a reply whose access token is not a JWT
    # When it is validated at T0 + 5
    grant = TokenGrant.from_reply(login_reply("opaque-access"), T0 + 5)

    # Then it is assumed to live the documented 300 s from now
    assert (grant.issued_at, grant.expires_at) == (T0 + 5, T0 + 305)


def test_token_grant_repr_never_contains_tokens() -> None:
    # Given a grant with both tokens
    grant = make_grant(refresh_token="rt-very-secret")

    # When it is rendered by a stray log line or a traceback
    text = f"{grant!r} {grant!s}"

    # Then neither token appears
    assert grant.access_token not in text
    assert "rt-very-secret" not in text
    assert "TokenGrant(" in text


# -- StoredToken: serialisation ---------------------------------------------------


def test_stored_token_secret_string_round_trip_is_lossless() -> None:
    # Given a stored generation with account details
    token = make_token(7, refresh_token="rt-7")

    # When it is written as a secret string and read back
    again = StoredToken.from_secret_string(token.to_secret_string())

    # Then every field survives, tokens included (the secret is the one place they live)
    assert again == token
    assert again is not None
    assert again.refresh_token == "rt-7"


def test_stored_token_without_refresh_token_round_trips_as_none() -> None:
    # Given a generation that has no refresh token
    token = make_token(2, refresh_token="x")
    token = replace(token, refresh_token=None)

    # When it round-trips
    again = StoredToken.from_secret_string(token.to_secret_string())

    # Then it is still None
    assert again == token


def test_stored_token_to_secret_string_is_deterministic() -> None:
    # Given two equal tokens whose agent dicts were built in different key orders
    token = make_token(3)
    agent = token.account.agents[0]
    shuffled = dict(reversed(list(agent.items())))
    twin = replace(token, account=replace(token.account, agents=(shuffled,)))
    assert list(shuffled) != list(agent)

    # When both are serialised
    first, second = token.to_secret_string(), twin.to_secret_string()

    # Then the bytes are identical (a retried write of one generation is a no-op)
    assert first == second
    assert first == token.to_secret_string()
    # ... and the form is compact JSON with sorted keys
    assert ", " not in first
    assert ": " not in first
    data = json.loads(first)
    assert list(data) == sorted(data)


def test_stored_token_from_empty_object_is_an_empty_slot() -> None:
    # Given a slot as the template creates it
    # When it is parsed
    # Then it is "no token", not an error
    assert StoredToken.from_secret_string("{}") is None


_DROP = object()


def _slot(**changes: Any) -> str:
    """Generation 4's secret string with some fields changed or dropped."""
    data = json.loads(make_token(4).to_secret_string())
    for key, value in changes.items():
        if value is _DROP:
            del data[key]
        else:
            data[key] = value
    return json.dumps(data)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "not valid JSON"),
        ("{not json", "not valid JSON"),
        ("[]", "not a JSON object"),
        ("null", "not a JSON object"),
        ('"generation"', "not a JSON object"),
        ("4", "not a JSON object"),
        (_slot(generation=_DROP), "no valid generation"),
        (_slot(generation=0), "no valid generation"),
        (_slot(generation=-3), "no valid generation"),
        (_slot(generation="4"), "no valid generation"),
        (_slot(generation=4.0), "no valid generation"),
        (_slot(generation=True), "no valid generation"),
        (_slot(generation=None), "no valid generation"),
        (_slot(accessToken=_DROP), "no access token"),
        (_slot(accessToken=""), "no access token"),
        (_slot(accessToken=123), "no access token"),
        (_slot(issuedAt=_DROP), "no valid issuedAt"),
        (_slot(expiresAt=_DROP), "no valid expiresAt"),
        (_slot(expiresAt=None), "no valid expiresAt"),
        (_slot(expiresAt="soon"), "no valid expiresAt"),
        (_slot(issuedAt=[1]), "no valid issuedAt"),
        (_slot(account={"accountIds": 5}), "account is malformed"),
        (json.dumps({"unrelated": "data"}), "no valid generation"),
    ],
    ids=[
        "empty-string",
        "not-json",
        "array",
        "null",
        "string",
        "number",
        "no-generation",
        "generation-zero",
        "generation-negative",
        "generation-string",
        "generation-float",
        "generation-bool",
        "generation-null",
        "no-access-token",
        "access-token-empty",
        "access-token-number",
        "no-issued-at",
        "no-expires-at",
        "expires-at-null",
        "expires-at-text",
        "issued-at-list",
        "account-ids-number",
        "foreign-object",
    ],
)
def test_stored_token_from_secret_string_corrupt_slot_raises_malformed_slot(
    text: str, reason: str
) -> None:
    # Given a slot that holds something other than a stored token
    # When it is parsed
    with pytest.raises(MalformedSlot) as caught:
        StoredToken.from_secret_string(text)

    # Then the reason is specific and never quotes the slot's content
    assert reason in str(caught.value)
    assert "rt-g4" not in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        _slot(account=["15300002"]),
        _slot(account="15300002"),
        _slot(account=7),
        _slot(issuedAt=10**400),
    ],
    ids=["account-list", "account-string", "account-number", "issued-at-huge-int"],
)
def test_stored_token_from_secret_string_odd_field_types_raise_malformed_slot(text: str) -> None:
    # Given a slot whose account is not an object, or whose timestamp overflows a float
    # When it is parsed
    # Then it is reported as a corrupt slot like every other bad field
    with pytest.raises(MalformedSlot):
        StoredToken.from_secret_string(text)


def test_stored_token_from_secret_string_optional_fields_get_defaults() -> None:
    # Given a minimal slot written by an older version: no refresh token, type, source
    text = json.dumps(
        {"generation": 9, "accessToken": "a", "issuedAt": T0, "expiresAt": T0 + LIFETIME}
    )

    # When it is parsed
    token = StoredToken.from_secret_string(text)

    # Then the missing fields take safe defaults
    assert token is not None
    assert token.refresh_token is None
    assert token.token_type == "Bearer"
    assert token.refreshed_at == T0
    assert token.source == "unknown"
    assert token.account == AccountInfo()


# -- StoredToken: behaviour -------------------------------------------------------


def test_stored_token_successor_with_new_refresh_token_takes_it() -> None:
    # Given generation 5 and a refresh reply that rotates the refresh token
    current = make_token(5)
    grant = make_grant(T0 + 200, refresh_token="rt-new", serial=6)

    # When the successor is built
    nxt = current.successor(grant, T0 + 201, "refresh")

    # Then it is generation 6 with the new tokens and timing
    assert nxt.generation == 6
    assert nxt.refresh_token == "rt-new"
    assert nxt.access_token == grant.access_token
    assert nxt.expires_at == grant.expires_at
    assert nxt.refreshed_at == T0 + 201
    assert nxt.source == "refresh"


def test_stored_token_successor_reply_without_refresh_token_keeps_previous() -> None:
    # Given generation 5 and a reply that carries no refresh token
    current = make_token(5, refresh_token="rt-keep")
    grant = make_grant(T0 + 200, refresh_token=None, serial=6)

    # When the successor is built
    nxt = current.successor(grant, T0 + 200, "refresh")

    # Then the chain is not lost: the previous refresh token is carried over
    assert nxt.generation == 6
    assert nxt.refresh_token == "rt-keep"
    assert nxt.access_token == grant.access_token


@pytest.mark.parametrize(
    ("elapsed", "fraction", "expected"),
    [
        (0, 0.4, True),
        (179, 0.4, True),  # 121 s left > 120 s
        (180, 0.4, False),  # exactly 0.4 L left is not "more than"
        (181, 0.4, False),
        (269, 0.1, True),
        (271, 0.1, False),
        (300, 0.0, False),  # expired
        (400, 0.0, False),
    ],
)
def test_stored_token_has_more_than_compares_seconds_left_with_fraction_of_life(
    elapsed: float, fraction: float, expected: bool
) -> None:
    # Given a 300 s token
    token = make_token(1)

    # When asked whether more than a fraction of its life is left
    # Then the answer follows the token's own lifetime
    assert token.has_more_than(fraction, T0 + elapsed) is expected


def test_stored_token_has_more_than_scales_with_short_lifetimes() -> None:
    # Given a 20 s token (a compressed-clock test)
    token = make_token(1, lifetime=20)

    # When asked at 11 s and 13 s
    # Then 0.4 of *its* life (8 s) is the threshold, not 120 s
    assert token.has_more_than(0.4, T0 + 11) is True
    assert token.has_more_than(0.4, T0 + 13) is False


@pytest.mark.parametrize(("elapsed", "expired"), [(299.9, False), (300, True), (301, True)])
def test_stored_token_is_expired_at_and_after_exp(elapsed: float, expired: bool) -> None:
    # Given a 300 s token
    token = make_token(1)

    # When checked at a point in time
    # Then it is expired from exp onwards
    assert token.is_expired(T0 + elapsed) is expired
    assert token.seconds_left(T0 + elapsed) == pytest.approx(300 - elapsed)


def test_stored_token_summary_shows_timing_and_accounts_never_tokens() -> None:
    # Given a stored generation with both tokens
    token = make_token(12, refresh_token="rt-summary-secret")

    # When summarised 100 s after minting
    summary = token.summary(T0 + 100)

    # Then callers see timing and ids ...
    assert summary["generation"] == 12
    assert summary["expiresAt"] == "2027-01-15T08:05:00Z"
    assert summary["lastRefreshedAt"] == "2027-01-15T08:00:00Z"
    assert summary["secondsLeft"] == 200
    assert summary["lifetimeSeconds"] == 300
    assert summary["accountIds"] == ["15300002"]
    assert "agents" not in summary  # names and addresses only on request
    assert token.summary(T0 + 100, agents=True)["agents"] == [AGENT]
    # ... and no token, anywhere in it
    rendered = json.dumps(summary)
    assert token.access_token not in rendered
    assert "rt-summary-secret" not in rendered
    assert not {"accessToken", "refreshToken", "access_token", "refresh_token"} & set(summary)


@pytest.mark.parametrize("forced", [True, False])
def test_stored_token_forced_flag_round_trips_through_the_slot(forced: bool) -> None:
    # Given a generation that replaced an early-rejected one (or not)
    token = replace(make_token(3), forced=forced)

    # When it is stored and read back
    back = StoredToken.from_secret_string(token.to_secret_string())

    # Then the flag survives, and a slot written before the flag existed reads as not forced
    assert back == token
    legacy = json.loads(token.to_secret_string())
    legacy.pop("forced")
    old = StoredToken.from_secret_string(json.dumps(legacy))
    assert old is not None and old.forced is False


def test_stored_token_summary_after_expiry_clamps_seconds_left_to_zero() -> None:
    # Given a token long expired
    token = make_token(1)

    # When summarised
    summary = token.summary(T0 + 10_000)

    # Then secondsLeft never goes negative
    assert summary["secondsLeft"] == 0


def test_stored_token_repr_never_contains_tokens() -> None:
    # Given a stored generation
    token = make_token(3, refresh_token="rt-repr-secret")

    # When rendered the way a log line or traceback would
    text = f"{token!r} {token!s} {[token]!r}"

    # Then neither token appears
    assert token.access_token not in text
    assert "rt-repr-secret" not in text
    assert "generation=3" in text


@pytest.mark.parametrize(("token_type", "prefix"), [("Bearer", "Bearer "), ("", "Bearer ")])
def test_stored_token_authorization_header_uses_type_or_bearer(
    token_type: str, prefix: str
) -> None:
    # Given a stored token with or without a type
    token = replace(make_token(1), token_type=token_type)

    # When the Authorization value is built
    # Then it is "<type> <access token>", Bearer by default
    assert token.authorization == prefix + token.access_token
