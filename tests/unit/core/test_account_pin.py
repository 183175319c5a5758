"""account_pin.py: a login may only continue the chain's own RingCX account."""

from __future__ import annotations

from dataclasses import replace
from http import HTTPStatus

import pytest

from ringcx_broker.account_pin import AccountMismatch, AccountPin, main_account_of
from ringcx_broker.tokens import AccountInfo, StoredToken
from tests.unit.core.fakes import make_token

CHAIN = replace(
    make_token(4), account=AccountInfo(("3001",), main_account_id="1001", admin_id="42")
)


def account(
    main: str | None = "1001", admin: str | None = "42", ids: tuple[str, ...] = ()
) -> AccountInfo:
    return AccountInfo(ids or ("3001",), main_account_id=main, admin_id=admin)


def chain_pin() -> AccountPin:
    pin = AccountPin.of(None, CHAIN)
    assert pin is not None
    return pin


def test_account_pin_empty_ring_without_parameter_pins_nothing() -> None:
    # Given a fresh stack: nothing in the ring, no ExpectedMainAccountId
    # Then the first login is free to pin the account
    assert AccountPin.of(None, None) is None


def test_account_pin_same_account_and_admin_passes() -> None:
    # Given the chain's account, and a login for the same account and admin
    # Then it continues the chain
    chain_pin().check(account(), replace=False)


@pytest.mark.parametrize(
    ("login", "names"),
    [(account(main="2002"), "main account 2002"), (account(admin="77"), "admin 77")],
    ids=["other-account", "other-admin"],
)
def test_account_pin_other_account_or_admin_is_refused_with_409(
    login: AccountInfo, names: str
) -> None:
    # Given the chain's pin
    pin = chain_pin()

    # When a login yields another account (or another admin of it)
    with pytest.raises(AccountMismatch) as caught:
        pin.check(login, replace=False)

    # Then it is a conflict that names both, and the way to switch on purpose
    assert caught.value.status == HTTPStatus.CONFLICT
    assert names in caught.value.message
    assert "main account 1001" in caught.value.message
    assert '"replaceAccount": true' in caught.value.message


def test_account_pin_replace_account_switches_a_ring_pin() -> None:
    # Given the chain's pin and an operator who asks to replace the account
    # Then another account is accepted
    chain_pin().check(account(main="2002"), replace=True)


@pytest.mark.parametrize("newest", [None, CHAIN], ids=["first-login", "existing-chain"])
def test_account_pin_parameter_pin_cannot_be_replaced(newest: StoredToken | None) -> None:
    # Given a deployment pinned to main account 1001 by its parameter
    pin = AccountPin.of("1001", newest)
    assert pin is not None

    # When a login for another account asks to replace, or is the very first
    with pytest.raises(AccountMismatch) as caught:
        pin.check(account(main="2002"), replace=True)

    # Then the parameter wins, and says so; another admin of the pinned account is fine
    assert "ExpectedMainAccountId" in caught.value.message
    pin.check(account(admin="77"), replace=False)


def test_main_account_of_reply_without_main_account_uses_sub_accounts() -> None:
    # Given a RingCX reply that leaves mainAccountId out (it is not always there)
    # Then the sorted sub-account ids stand for the account
    assert main_account_of(account(main=None, ids=("9", "3"))) == "3,9"
